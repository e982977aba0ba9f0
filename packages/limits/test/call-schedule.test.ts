/**
 * Call admission as a schedule (GCRA): a call is given its start on the account's schedule, waits for it when it is
 * near, and is sent back to a place in the queue when it is not. Time is an injected clock moved by the test, so
 * every figure here is exact; Redis is real.
 */
import type { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { uniquePrefix, worstSecond } from '@fleet/testing';
import type { Admission } from '../src/index.ts';
import { LATE_START_BUDGET_MS } from '../src/index.ts';
import { createLimits, testConnections } from './support.ts';

const { redis, other, used } = testConnections();
const prefix = uniquePrefix('limits-schedule');

const USER = '1234567898765432';
/** A realistic epoch (ms), so that the schedule's times have the magnitude they have in production. */
const EPOCH = 1_764_000_000_000;

type Clock = { now: number };

function admissionAt(
  name: string,
  clock: Clock,
  options: { rate: number; burst: number; maxWaitMs: number; cap?: number; client?: Redis; startLeadMs?: number },
) {
  const p = `${prefix}-${name}`;
  used.add(p);
  return createLimits(options.client ?? redis, p, clock, {
    cap: options.cap ?? 10_000,
    rate: options.rate,
    burst: options.burst,
    admission: {
      maxWaitMs: options.maxWaitMs,
      ...(options.startLeadMs === undefined ? {} : { startLeadMs: options.startLeadMs }),
    },
  });
}

describe('call admission as a schedule', () => {
  it('admits a call with its start within the wait bound, and sends one further away back to a place in the queue', async () => {
    const clock = { now: EPOCH };
    const l = admissionAt('bound', clock, { rate: 10, burst: 1, maxWaitMs: 250 });
    const answers: Admission[] = [];
    for (let i = 0; i < 5; i++) answers.push(await l.admission.admit(USER, 'r1'));
    // 10/s: starts 100 ms apart, the first at once; the fourth (300 ms away) is past the bound of 250.
    expect(answers.map((a) => a.kind)).toEqual(['admitted', 'admitted', 'admitted', 'rate', 'rate']);
    expect(answers.slice(0, 3).map((a) => (a.kind === 'admitted' ? a.waitMs : -1))).toEqual([0, 100, 200]);
    // Sent back to come when their start would be half the bound away: 300 - 125, then one interval later.
    expect(answers.slice(3)).toEqual([
      { kind: 'rate', waitMs: 175 },
      { kind: 'rate', waitMs: 275 },
    ]);
    // Only the admitted calls hold slots; the ones sent back reserved nothing.
    expect(await l.global.inFlight()).toBe(3);
    clock.now += 175;
    expect(await l.admission.admit(USER, 'r1')).toMatchObject({ kind: 'admitted', waitMs: 125 });
    clock.now += 100;
    expect(await l.admission.admit(USER, 'r1')).toMatchObject({ kind: 'admitted', waitMs: 125 });
  });

  it('says how late an admitted call already is when its answer comes after its reserved start', async () => {
    // The clock reads EPOCH when the call asks (twice: the slot's lease and the schedule) and 80 ms later once the
    // answer is in: a round trip, or a process waiting for the CPU, that outlasted the start reserved at EPOCH.
    let reads = 0;
    const clock = {
      get now() {
        reads += 1;
        return reads <= 2 ? EPOCH : EPOCH + 80;
      },
    };
    const l = admissionAt('late', clock, { rate: 10, burst: 1, maxWaitMs: 250 });
    expect(await l.admission.admit(USER, 'r1')).toMatchObject({ kind: 'admitted', waitMs: 0, lateMs: 80 });
    // A call whose start is still ahead is not late: the next start is 100 ms after the first, 20 ms from now.
    expect(await l.admission.admit(USER, 'r1')).toMatchObject({ kind: 'admitted', waitMs: 20, lateMs: 0 });
  });

  it('forgets the queue of calls sent back once the schedule has run dry, so a queue of departed jobs delays no one', async () => {
    const clock = { now: EPOCH };
    const l = admissionAt('dry', clock, { rate: 10, burst: 1, maxWaitMs: 0 });
    expect(await l.admission.admit(USER, 'r1')).toMatchObject({ kind: 'admitted', waitMs: 0 });
    // Twenty calls sent back, whose jobs are then cancelled: the queue tail is 2 s away.
    for (let i = 0; i < 20; i++) await l.admission.admit(USER, 'r1');
    expect(await l.admission.admit(USER, 'r1')).toEqual({ kind: 'rate', waitMs: 2_100 });
    clock.now += 100;
    expect(await l.admission.admit(USER, 'r1')).toMatchObject({ kind: 'admitted', waitMs: 0 });
    // The schedule (not the queue) is what a call waits for: the next is one interval away, not behind the queue.
    expect(await l.admission.admit(USER, 'r1')).toEqual({ kind: 'rate', waitMs: 100 });
    clock.now += 1_000;
    expect(await l.admission.admit(USER, 'r1')).toMatchObject({ kind: 'admitted', waitMs: 0 });
    expect(await l.admission.admit(USER, 'r1')).toEqual({ kind: 'rate', waitMs: 100 });
  });

  it('reserves the next start however far it is for a call that missed its own, and the schedule moves on', async () => {
    const clock = { now: EPOCH };
    const l = admissionAt('reserve', clock, { rate: 10, burst: 1, maxWaitMs: 250 });
    for (let i = 0; i < 3; i++) await l.admission.admit(USER, 'r1');
    // Past the admission's bound (300 ms away), yet reserved: the late call must be made.
    expect(await l.rate.reserve(USER)).toBe(300);
    expect(await l.rate.reserve(USER)).toBe(400);
    expect(await l.admission.admit(USER, 'r1')).toEqual({ kind: 'rate', waitMs: 375 });
  });

  it('answers each admitted start and each reserved one exactly, fractions of a millisecond included', async () => {
    // 30/s: starts 33.33... ms apart. Rounded to whole milliseconds (as a Lua number returned by Redis is), some
    // starts would come 33 ms after the one before and others 34, and calls sent at the rounded starts drift together.
    const clock = { now: EPOCH + 0.25 };
    const l = admissionAt('exact', clock, { rate: 30, burst: 1, maxWaitMs: 1000 });
    const starts: number[] = [];
    for (let i = 0; i < 10; i++) {
      const a = await l.admission.admit(USER, 'r1');
      expect(a.kind).toBe('admitted');
      if (a.kind === 'admitted') {
        starts.push(a.startsAtMs);
        // The rounded wait still covers the exact one: a call waiting `waitMs` is never early.
        expect(a.waitMs).toBe(Math.ceil(a.startsAtMs - clock.now));
      }
    }
    const reserved = await l.rate.reserveStart(USER);
    starts.push(reserved);
    const interval = 1000 / 30;
    // Within a microsecond (a double near the epoch in ms holds about 0.2 microseconds).
    starts.forEach((start, i) => expect(Math.abs(start - (EPOCH + 0.25 + i * interval))).toBeLessThan(0.001));
    // reserve() answers the same schedule rounded up: the next start is one more interval on.
    expect(await l.rate.reserve(USER)).toBe(Math.ceil(11 * interval));
  });

  it('gives a retaken start the same lead as an admitted one: on a schedule nobody waits on, the lead after the ask, not the ask', async () => {
    const clock = { now: EPOCH };
    const l = admissionAt('retake-lead', clock, { rate: 100, burst: 1, maxWaitMs: 1000, startLeadMs: 10 });
    const admitted = await l.admission.admit(USER, 'r1');
    expect(admitted).toMatchObject({ kind: 'admitted', startsAtMs: EPOCH + 10 });
    // The call missed that start; 200 ms on, the schedule has nobody waiting (its next start long past).
    clock.now = EPOCH + 200;
    expect(await l.admission.retakeStart(USER)).toBe(EPOCH + 210);
    // The schedule moved on from the retaken start: the next admission is one interval after it.
    expect(await l.admission.admit(USER, 'r1')).toMatchObject({ kind: 'admitted', startsAtMs: EPOCH + 220 });
    // A retake behind calls already waiting takes the next start after theirs, as reserve does.
    expect(await l.admission.retakeStart(USER)).toBe(EPOCH + 230);
    // The limiter's own reserveStart, without a lead, answers the moment of asking on an idle schedule.
    clock.now = EPOCH + 1_000;
    expect(await l.rate.reserveStart(USER)).toBe(EPOCH + 1_000);
  });

  it('keeps spacing below a millisecond exact: 3,000/s admits 2,971 starts within a 1,000 ms bound, not one more', async () => {
    // 3,000/s leaves room for calls sent up to LATE_START_BUDGET_MS late: 30 calls in 10 ms, so the schedule spaces
    // them at 2,971 a second (1000 / 2971 ms apart): a second's worth within the bound of 1,000 ms.
    expect(LATE_START_BUDGET_MS).toBe(10);
    const clock = { now: EPOCH + 0.5 };
    const l = admissionAt('fine', clock, { rate: 3000, burst: 1, maxWaitMs: 1000 });
    let admitted = 0;
    let last: Admission | undefined;
    for (let batch = 0; batch < 31; batch++) {
      const answers = await Promise.all(Array.from({ length: 100 }, () => l.admission.admit(USER, 'r1')));
      admitted += answers.filter((a) => a.kind === 'admitted').length;
      last = answers.at(-1);
    }
    expect(admitted).toBe(2971);
    expect(last).toMatchObject({ kind: 'rate' });
  });

  it('leaves room for calls sent up to the lateness budget late: rate + burst holds for the calls as sent', async () => {
    // 500/s: 5 calls in the 10 ms budget, so starts 1000 / 496 ms apart and each call may go up to 5 intervals late.
    const clock = { now: EPOCH };
    const l = admissionAt('budget', clock, { rate: 500, burst: 1, maxWaitMs: 5_000 });
    const starts: number[] = [];
    const tolerances = new Set<number>();
    for (let i = 0; i < 2_000; i++) {
      const a = await l.admission.admit(USER, 'r1');
      if (a.kind !== 'admitted') throw new Error(`not admitted: ${JSON.stringify(a)}`);
      starts.push(a.startsAtMs);
      tolerances.add(Math.round(a.lateToleranceMs * 1000));
    }
    const interval = 1000 / 496;
    // Five intervals, less the millisecond the workers' whole-millisecond clocks may be off by.
    expect([...tolerances]).toEqual([Math.round((5 * interval - 1) * 1000)]);
    // Calls sent as late as they may be, in the patterns that crowd a second most: all late; runs of late calls
    // followed by calls on time (the window opens on the late run and closes on time); lateness rising and falling.
    const most = 5 * interval - 1;
    const patterns: ((i: number) => number)[] = [
      () => most,
      (i) => (i % 100 < 4 ? most : 0),
      (i) => (i >= 495 && i < 500 ? most : 0),
      (i) => ((i % 9) / 8) * most,
    ];
    const limit = 500 + 1;
    for (const late of patterns) {
      expect(worstSecond(starts.map((start, i) => start + late(i)))).toBeLessThanOrEqual(limit);
    }
    // Without the room (a schedule at the rate itself, 2 ms apart), the same lateness makes a second over the limit.
    const atRate = starts.map((_, i) => EPOCH + i * 2);
    expect(worstSecond(atRate.map((start, i) => start + (i >= 495 && i < 500 ? 9.9 : 0)))).toBeGreaterThan(limit);
  });

  it('never starts more than rate + burst calls in any one-second window: two admissions, 40 jobs, a throttling halving and recovery', async () => {
    const clock = { now: EPOCH };
    const RATE = 20;
    const BURST = 4;
    const one = admissionAt('window', clock, { rate: RATE, burst: BURST, maxWaitMs: 500 });
    const two = admissionAt('window', clock, { rate: RATE, burst: BURST, maxWaitMs: 500, client: other });
    // 40 jobs, each asking, waiting for its start or coming back when told, calling for 30 ms, then replaced by the
    // next job: far more demand than 20/s, as a rollout of thousands has.
    type Ask = { at: number; job: number };
    const asks: Ask[] = Array.from({ length: 40 }, (_, job) => ({ at: EPOCH + job, job }));
    const starts: number[] = [];
    let throttledAt: number | null = null;
    let recoveredTo = 0;
    const end = EPOCH + 20_000;
    while (asks.length > 0) {
      asks.sort((a, b) => a.at - b.at);
      const ask = asks.shift()!;
      if (ask.at >= end) break;
      clock.now = ask.at;
      if (throttledAt === null && clock.now >= EPOCH + 5_000) {
        throttledAt = clock.now;
        expect(await one.rate.onThrottled(USER)).toBe(RATE / 2);
      }
      if (clock.now >= EPOCH + 8_000) recoveredTo = await two.rate.onSuccess(USER);
      const limits = ask.job % 2 ? one : two;
      const answer = await limits.admission.admit(USER, `r${ask.job % 3}`);
      switch (answer.kind) {
        case 'admitted': {
          const start = clock.now + answer.waitMs;
          starts.push(start);
          limits.admission.release(answer.slot);
          asks.push({ at: start + 30, job: ask.job });
          break;
        }
        case 'rate':
          asks.push({ at: clock.now + answer.waitMs, job: ask.job });
          break;
        case 'slot':
          throw new Error('the cap is far above what 40 jobs hold');
      }
    }
    expect(worstSecond(starts)).toBeLessThanOrEqual(RATE + BURST);
    // The schedule is used, not just bounded: from the first second to the halving, 4 s at 20/s.
    const inRange = (from: number, to: number) => starts.filter((s) => s >= EPOCH + from && s < EPOCH + to).length;
    expect(inRange(1_000, 5_000)).toBeGreaterThanOrEqual(4 * RATE - 1);
    // Halved at 5 s: calls reserved before it (at most the 500 ms bound of them) go, then 10/s.
    expect(inRange(6_000, 8_000)).toBeLessThanOrEqual(2 * (RATE / 2) + BURST);
    expect(inRange(6_000, 8_000)).toBeGreaterThanOrEqual(2 * (RATE / 2) - 1);
    // And it climbs back while calls succeed (1/s per second by default, from 8 s on).
    expect(recoveredTo).toBeGreaterThan(RATE / 2);
    expect(inRange(18_000, 19_000)).toBeGreaterThan(RATE / 2);
  });
});
