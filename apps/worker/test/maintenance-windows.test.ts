import { afterEach, describe, expect, it } from 'vitest';
import { listEvents } from '@fleet/db';
import { applySchedules, pauseRollout } from '@fleet/rollout-control';
import type { RolloutSchedule } from '@fleet/rollout-domain';
import { instanceIds } from '@fleet/testing';
import type { WorkerHarness } from './support.ts';
import { rolloutFacts, startHarness } from './support.ts';

let h: WorkerHarness | undefined;
let scheduler: NodeJS.Timeout | undefined;
afterEach(async () => {
  clearInterval(scheduler);
  await h?.close();
  h = undefined;
});

/**
 * A schedule clock that runs `speed` times faster than the real one from `start`: the scheduler's and the claims'
 * window checks run on it, while calls are signed and recorded on real time (the simulator checks timestamps).
 * `at(real)`: a real moment on this clock. A claim projects the wait for its call's start onto the schedule's clock as
 * real milliseconds (every real clock runs at one rate), which this clock breaks by its speed: the pools on it run
 * without the admission's start lead (10 real ms would be 600 ms here), so that a call's start is its claim's.
 */
function fastClock(start: Date, speed: number): { now: () => Date; at: (real: Date) => Date } {
  const realStart = Date.now();
  const at = (real: Date) => new Date(start.getTime() + (real.getTime() - realStart) * speed);
  return { now: () => at(new Date()), at };
}

/** What the reconciler hands the scheduler. */
const schedulerDeps = (harness: WorkerHarness) =>
  ({
    db: harness.db,
    redis: harness.redis,
    prefix: harness.prefix,
    logger: harness.logger,
    by: { actor: { kind: 'reconciler', id: 'test-scheduler' } },
  }) as const;

/** What the reconciler does each pass, every `everyMs` (real time), on `clock`. */
function runScheduler(harness: WorkerHarness, clock: () => Date, everyMs: number): void {
  const deps = schedulerDeps(harness);
  let busy = false;
  scheduler = setInterval(() => {
    if (busy) return;
    busy = true;
    void applySchedules(deps, clock()).finally(() => (busy = false));
  }, everyMs);
}

const windows = (over: Partial<RolloutSchedule> = {}): RolloutSchedule => ({
  startAt: null,
  endAt: null,
  endBehavior: 'pause',
  // One minute every three: 00:00-00:01, 00:03-00:04, ...
  maintenanceWindows: [{ cron: '*/3 * * * *', durationMinutes: 1, timezone: 'UTC' }],
  cutoffMinutes: 0,
  ...over,
});

describe('schedules and maintenance windows', () => {
  it('with a window of one minute every three (a clock 60x fast), no call starts outside a window, across several', async () => {
    h = await startHarness({ latencyMs: 40, failureRate: 0, seed: 'windows-1' });
    // 30 simulated seconds before a window opens; a real second is a simulated minute.
    const clock = fastClock(new Date('2026-12-02T00:02:30Z'), 60);
    const ids = instanceIds(90, 'i-win');
    const rolloutId = await h.createRollout(ids, {
      concurrency: 2,
      status: 'scheduled',
      policy: { schedule: windows() },
    });
    await h.startPool({ scheduleNow: clock.now, pollMs: 50, startLeadMs: 0 });
    runScheduler(h, clock.now, 50);
    await h.waitForRolloutStatus(rolloutId, 'completed', 90_000);

    const attempts = (await rolloutFacts(h.db, rolloutId)).flatMap((i) => i.attempts);
    expect(attempts).toHaveLength(ids.length);
    const windowStarts = new Set<number>();
    for (const attempt of attempts) {
      // The start each call was claimed for (signed_at; started_at is when it went, a timer's lateness after, which
      // this clock makes 60 times longer): inside a window, so its minute on the schedule's clock is a multiple of 3.
      const startedAt = clock.at(attempt.signedAt!);
      const minute = Math.floor(startedAt.getTime() / 60_000);
      expect(minute % 3, startedAt.toISOString()).toBe(0);
      windowStarts.add(minute);
    }
    expect(windowStarts.size).toBeGreaterThanOrEqual(2);
    const { events } = await listEvents(h.db, { rolloutId, limit: 500 });
    const types = events.map((e) => e.type);
    expect(types[0]).toBe('rollout.created');
    expect(types).toContain('rollout.scheduled');
    expect(types.filter((t) => t === 'rollout.started').length).toBeGreaterThanOrEqual(2);
    expect(types).toContain('rollout.window_waiting');
  }, 120_000);

  it('a rollout scheduled 3 s ahead makes its first call after startAt', async () => {
    h = await startHarness({ latencyMs: 5, failureRate: 0, seed: 'windows-2' });
    const startAt = new Date(Date.now() + 3000);
    const rolloutId = await h.createRollout(instanceIds(10, 'i-st'), {
      concurrency: 5,
      status: 'scheduled',
      policy: { schedule: windows({ startAt: startAt.toISOString(), maintenanceWindows: [] }) },
    });
    await h.startPool({ pollMs: 50 });
    runScheduler(h, () => new Date(), 50);
    await h.waitForRolloutStatus(rolloutId, 'completed');
    const attempts = (await rolloutFacts(h.db, rolloutId)).flatMap((i) => i.attempts);
    expect(attempts).toHaveLength(10);
    for (const attempt of attempts) expect(attempt.startedAt.getTime()).toBeGreaterThanOrEqual(startAt.getTime());
  });

  it('at endAt with endBehavior cancel, the rest is cancelled, with its event', async () => {
    h = await startHarness({ latencyMs: 40, failureRate: 0, seed: 'windows-3' });
    const clock = fastClock(new Date('2026-12-02T00:02:30Z'), 60);
    const ids = instanceIds(500, 'i-end');
    // Two windows' worth of time, far too little for 500 instances two at a time.
    const rolloutId = await h.createRollout(ids, {
      concurrency: 2,
      status: 'scheduled',
      policy: { schedule: windows({ endAt: '2026-12-02T00:06:30Z', endBehavior: 'cancel' }) },
    });
    await h.startPool({ scheduleNow: clock.now, pollMs: 50, startLeadMs: 0 });
    runScheduler(h, clock.now, 50);
    await h.waitForRolloutStatus(rolloutId, 'cancelled', 60_000);
    const rollout = await h.db.prisma.rollout.findUniqueOrThrow({ where: { id: rolloutId } });
    expect(rollout.scheduleEndedAt).not.toBeNull();
    const facts = await rolloutFacts(h.db, rolloutId);
    const cancelled = facts.filter((i) => i.state === 'cancelled');
    const succeeded = facts.filter((i) => i.state === 'succeeded');
    expect(succeeded.length).toBeGreaterThan(0);
    expect(cancelled.length).toBeGreaterThan(100);
    expect(cancelled.every((i) => i.attemptCount === 0)).toBe(true);
    const { events } = await listEvents(h.db, { rolloutId, limit: 500 });
    const cancel = events.find((e) => e.type === 'rollout.cancelled');
    expect(cancel?.data).toMatchObject({ reason: expect.stringContaining('endAt') });
  }, 90_000);

  /** A rollout an operator paused before its endAt, and the scheduler's first pass after it. */
  async function pausedPastEnd(endBehavior: 'pause' | 'cancel', seed: string) {
    h = await startHarness({ latencyMs: 5, failureRate: 0, seed });
    const endAt = new Date(Date.now() + 60_000);
    const rolloutId = await h.createRollout(instanceIds(20, `i-${seed}`), {
      policy: { schedule: windows({ endAt: endAt.toISOString(), endBehavior, maintenanceWindows: [] }) },
    });
    const deps = schedulerDeps(h);
    expect((await pauseRollout(deps, rolloutId, 'on-call looks at a dashboard')).kind).toBe('changed');
    const moves = await applySchedules(deps, new Date(endAt.getTime() + 1000));
    return { rolloutId, deps, endAt, moves };
  }

  it('a rollout paused when its endAt passes, with endBehavior cancel, is cancelled: every instance, with its event', async () => {
    const { rolloutId, moves } = await pausedPastEnd('cancel', 'paused-cancel');
    expect(moves).toEqual([{ rolloutId, decision: 'end' }]);
    const rollout = await h!.db.prisma.rollout.findUniqueOrThrow({ where: { id: rolloutId } });
    expect(rollout.status).toBe('cancelled');
    expect(rollout.scheduleEndedAt).not.toBeNull();
    const facts = await rolloutFacts(h!.db, rolloutId);
    expect(facts.map((i) => i.state)).toEqual(Array(20).fill('cancelled'));
    const { events } = await listEvents(h!.db, { rolloutId, limit: 50 });
    expect(events.find((e) => e.type === 'rollout.cancelled')?.data).toMatchObject({
      reason: expect.stringContaining('endAt'),
    });
  });

  it('a rollout paused when its endAt passes, with endBehavior pause, stays paused with its reason, the end marked once', async () => {
    const { rolloutId, deps, endAt, moves } = await pausedPastEnd('pause', 'paused-pause');
    expect(moves).toEqual([{ rolloutId, decision: 'end' }]);
    const rollout = await h!.db.prisma.rollout.findUniqueOrThrow({ where: { id: rolloutId } });
    expect(rollout.status).toBe('paused');
    expect(rollout.statusReason).toBe('on-call looks at a dashboard');
    expect(rollout.scheduleEndedAt).not.toBeNull();
    // Applied once: the next pass finds nothing to do.
    expect(await applySchedules(deps, new Date(endAt.getTime() + 2000))).toEqual([]);
    const { events } = await listEvents(h!.db, { rolloutId, limit: 50 });
    const pauses = events.filter((e) => e.type === 'rollout.paused').map((e) => e.data);
    expect(pauses).toEqual([
      { cause: { kind: 'operator' }, reason: 'on-call looks at a dashboard' },
      { cause: { kind: 'schedule_end', endAt: endAt.toISOString() }, reason: expect.stringContaining('endAt') },
    ]);
  });
});
