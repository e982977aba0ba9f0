/**
 * The global cap after Redis lost its slots: admissions that require the limits' epoch take nothing while it is
 * missing, one process rebuilds the slots of the calls in flight (as Postgres would list them) after a settle, and
 * the cap counts them again. Real Redis; the calls in flight are given as the test's list.
 */
import { describe, expect, it } from 'vitest';
import { uniquePrefix } from '@fleet/testing';
import type { CallInFlight } from '../src/index.ts';
import { createLimitsRecovery, rebuiltSlotToken } from '../src/index.ts';
import { createLimits, testConnections } from './support.ts';

const { redis, other, used } = testConnections();

const USER = '1234567898765432';
const EPOCH = 1_764_000_000_000;

function setUp(name: string, cap: number) {
  const prefix = uniquePrefix(`limits-recovery-${name}`);
  used.add(prefix);
  const clock = { now: EPOCH };
  const lost: number[] = [];
  const limits = createLimits(redis, prefix, clock, {
    cap,
    rate: 100_000,
    burst: 100_000,
    admission: { maxWaitMs: 1000, limitsLost: () => lost.push(clock.now) },
  });
  return { prefix, clock, lost, limits };
}

describe('limits recovery', () => {
  it('admits nothing while the epoch is missing, then counts the rebuilt calls in flight against the cap', async () => {
    const { prefix, clock, lost, limits } = setUp('cap', 3);
    const inFlight: CallInFlight[] = [
      { attemptId: 41n, rolloutId: 'r1', ageMs: 2_000 },
      { attemptId: 42n, rolloutId: 'r2', ageMs: 14_000 },
    ];
    const settles: number[] = [];
    const recovery = createLimitsRecovery({
      redis,
      prefix,
      callsInFlight: async () => inFlight,
      staleAfterMs: 15_000,
      settleMs: 3_000,
      sleep: async (ms) => void settles.push(ms),
      now: () => clock.now,
    });

    // An empty Redis (a new deployment, or one that lost everything): no slot is taken, and the admission says why.
    expect(await limits.admission.admit(USER, 'r1')).toEqual({ kind: 'slot' });
    expect(lost).toEqual([EPOCH]);
    expect(await limits.global.inFlight()).toBe(0);

    expect(await recovery.ensure()).toBe('rebuilt');
    expect(settles).toEqual([3_000]);
    // Each call in flight holds a slot again, leased until it would be presumed dead (15 s after its start).
    const slots = await redis.zrange(limits.global.slots.keys[0], 0, -1, 'WITHSCORES');
    expect(slots).toEqual([
      rebuiltSlotToken(42n),
      String(EPOCH + 1_000),
      rebuiltSlotToken(41n),
      String(EPOCH + 13_000),
    ]);
    expect(await redis.hget(limits.global.slots.keys[1], 'count:r1')).toBe('1');

    // The cap of 3 now has one slot left, not three.
    expect(await limits.admission.admit(USER, 'r3')).toMatchObject({ kind: 'admitted' });
    expect(await limits.admission.admit(USER, 'r3')).toEqual({ kind: 'slot' });
    expect(lost).toHaveLength(1);
    // The rebuilt slot of the call 42 frees itself when its lease ends.
    clock.now += 1_001;
    expect(await limits.admission.admit(USER, 'r3')).toMatchObject({ kind: 'admitted' });
    expect(await recovery.ensure()).toBe('whole');
    expect(settles).toHaveLength(1);
  });

  it('rebuilds once: a second process finds the rebuild held elsewhere, and one process shares its own', async () => {
    const { prefix, clock } = setUp('once', 10);
    let reads = 0;
    let release: () => void = () => undefined;
    const settled = new Promise<void>((resolve) => (release = resolve));
    const options = {
      prefix,
      callsInFlight: async () => {
        reads += 1;
        return [];
      },
      staleAfterMs: 15_000,
      now: () => clock.now,
    };
    const one = createLimitsRecovery({ ...options, redis, sleep: () => settled });
    const two = createLimitsRecovery({ ...options, redis: other, sleep: async () => undefined });
    const first = one.ensure();
    const again = one.ensure();
    expect(again).toBe(first);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(await two.ensure()).toBe('elsewhere');
    release();
    expect(await first).toBe('rebuilt');
    expect(reads).toBe(1);
    expect(await two.ensure()).toBe('whole');
  });

  it('admissions without limitsLost never look for the epoch', async () => {
    const prefix = uniquePrefix('limits-recovery-off');
    used.add(prefix);
    const limits = createLimits(redis, prefix, { now: EPOCH }, { cap: 1, rate: 10, burst: 1, admission: {} });
    expect(await limits.admission.admit(USER, 'r1')).toMatchObject({ kind: 'admitted' });
  });
});

describe('the start lead', () => {
  it('gives a call admitted on an idle schedule its start the lead after it asked, so its claim fits before it', async () => {
    const prefix = uniquePrefix('limits-lead');
    used.add(prefix);
    const clock = { now: EPOCH };
    const limits = createLimits(redis, prefix, clock, {
      cap: 10,
      rate: 10,
      burst: 1,
      admission: { maxWaitMs: 1000, startLeadMs: 10 },
    });
    expect(await limits.admission.admit(USER, 'r1')).toMatchObject({
      kind: 'admitted',
      waitMs: 10,
      lateMs: 0,
      startsAtMs: EPOCH + 10,
      // 10/s: a call may go up to one interval late, less a millisecond (LATE_START_BUDGET_MS holds less than a call).
      lateToleranceMs: 99,
    });
    // The schedule moves on from that start: the next is one interval after it.
    expect(await limits.admission.admit(USER, 'r1')).toMatchObject({ startsAtMs: EPOCH + 110, waitMs: 110 });
  });
});
