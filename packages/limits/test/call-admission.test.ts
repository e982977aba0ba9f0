import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { deleteKeysWithPrefix, testRedisUrl, uniquePrefix } from '@fleet/testing';
import type { createCallAdmission } from '../src/index.ts';
import { createLimits } from './support.ts';

const redis = new Redis(testRedisUrl());
const prefix = uniquePrefix('limits-admit');
const used = new Set<string>();
afterAll(async () => {
  await Promise.all([...used].map((p) => deleteKeysWithPrefix(p)));
  await redis.quit();
});

const USER = '1234567898765432';

function limitsAt(
  name: string,
  clock: { now: number },
  options: {
    cap: number;
    rate: number;
    burst: number;
    redis?: Redis;
    releaseDelayMs?: number;
    /** Default 0 here: a call is admitted only when it may start at once, else sent back (`rate`). */
    maxWaitMs?: number;
    onReleaseError?: (error: unknown) => void;
  },
) {
  const p = `${prefix}-${name}`;
  used.add(p);
  return createLimits(options.redis ?? redis, p, clock, {
    ...options,
    admission: {
      maxWaitMs: options.maxWaitMs ?? 0,
      ...(options.releaseDelayMs !== undefined ? { releaseDelayMs: options.releaseDelayMs } : {}),
      ...(options.onReleaseError ? { onReleaseError: options.onReleaseError } : {}),
    },
  });
}

/** Limits on a connection of their own that fails at once while disconnected (no offline queue, no reconnect). */
async function limitsOnUnreliableRedis(name: string, clock: { now: number }, releaseDelayMs: number) {
  const client = new Redis(testRedisUrl(), {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    lazyConnect: true,
  });
  await client.connect();
  const errors: unknown[] = [];
  const limits = limitsAt(name, clock, {
    cap: 2,
    rate: 1000,
    burst: 1000,
    redis: client,
    releaseDelayMs,
    onReleaseError: (e) => errors.push(e),
  });
  return { client, errors, ...limits };
}

const slotOf = (a: Awaited<ReturnType<ReturnType<typeof createCallAdmission>['admit']>>) => {
  if (a.kind !== 'admitted') throw new Error(`expected admitted, got ${a.kind}`);
  return a.slot;
};

describe('call admission (a start on the account schedule and a global slot in one step)', () => {
  it('admits within both limits, across admission instances, and shares schedules and slots with take / tryAcquire', async () => {
    const clock = { now: 1_000_000 };
    const one = limitsAt('shared', clock, { cap: 3, rate: 10, burst: 5 });
    const two = limitsAt('shared', clock, { cap: 3, rate: 10, burst: 5 });
    const answers = await Promise.all([1, 2, 3, 4].map((i) => (i % 2 ? one : two).admission.admit(USER, 'r1')));
    expect(answers.filter((a) => a.kind === 'admitted')).toHaveLength(3);
    expect(answers.filter((a) => a.kind === 'slot')).toHaveLength(1);
    expect(await one.global.inFlight()).toBe(3);
    // The call refused a slot reserved no start: 5 - 3 = 2 of the burst left, taken by the plain limiter and then the
    // admission.
    expect(await one.rate.take(USER)).toBe(0);
    const admitted = answers.flatMap((a) => (a.kind === 'admitted' ? [a.slot] : []));
    await one.global.release(admitted[0]!);
    expect(await two.admission.admit(USER, 'r1')).toMatchObject({ kind: 'admitted' });
    await one.global.release(admitted[1]!);
    // The burst is spent now (5 scheduled): the rate answers first, with the wait for the next start at 10/s (one
    // interval), and takes no slot.
    expect(await one.admission.admit(USER, 'r1')).toEqual({ kind: 'rate', waitMs: 100 });
    expect(await one.global.inFlight()).toBe(2);
    clock.now += 100;
    expect(await one.admission.admit(USER, 'r1')).toMatchObject({ kind: 'admitted' });
    expect(await one.global.inFlight()).toBe(3);
  });

  it('follows the adapted rate and keeps fairness between rollouts', async () => {
    const clock = { now: 2_000_000 };
    const l = limitsAt('adapt', clock, { cap: 2, rate: 100, burst: 1 });
    expect(await l.rate.onThrottled(USER)).toBe(50);
    expect(await l.admission.admit(USER, 'big')).toMatchObject({ kind: 'admitted' });
    // 50/s after the halving: the next token is 20 ms away.
    expect(await l.admission.admit(USER, 'big')).toEqual({ kind: 'rate', waitMs: 20 });
    clock.now += 20;
    expect(await l.admission.admit(USER, 'big')).toMatchObject({ kind: 'admitted' });
    clock.now += 20;
    expect(await l.admission.admit('5555666677778888', 'small')).toEqual({ kind: 'slot' });
    const [bigSlot] = await redis.zrange(l.global.slots.keys[0], 0, 0);
    await l.global.release(bigSlot!);
    clock.now += 20;
    // big holds 1 of 2 (its fair share) while small waits: big is refused, small admitted.
    expect(await l.admission.admit(USER, 'big')).toEqual({ kind: 'slot' });
    expect(await l.admission.admit('5555666677778888', 'small')).toMatchObject({ kind: 'admitted' });
  });

  it('gives a slot back with the next admit, in the same round trip, before the cap is judged', async () => {
    const clock = { now: 3_000_000 };
    // No timer can fire during the test: only the next admit can carry the release.
    const l = limitsAt('ride', clock, { cap: 1, rate: 1000, burst: 1000, releaseDelayMs: 60_000 });
    const first = slotOf(await l.admission.admit(USER, 'r1'));
    expect(await l.admission.admit(USER, 'r1')).toEqual({ kind: 'slot' });
    l.admission.release(first);
    // Not given back yet: it still counts as a call in flight, so the cap is never exceeded.
    expect(await redis.zrange(l.global.slots.keys[0], 0, -1)).toEqual([first]);
    const second = slotOf(await l.admission.admit(USER, 'r1'));
    expect(await redis.zrange(l.global.slots.keys[0], 0, -1)).toEqual([second]);
    // The holder's count follows: one slot held by r1, none left by the first.
    expect(await redis.hgetall(l.global.slots.keys[1])).toEqual({ [second]: 'r1', 'count:r1': '1' });
    // An admit the rate refuses gives back what it carries too.
    const slow = limitsAt('ride-rate', clock, { cap: 5, rate: 1, burst: 1, releaseDelayMs: 60_000 });
    const only = slotOf(await slow.admission.admit(USER, 'r1'));
    slow.admission.release(only);
    expect(await slow.admission.admit(USER, 'r1')).toMatchObject({ kind: 'rate' });
    expect(await slow.global.inFlight()).toBe(0);
  });

  it('gives a slot back by itself after releaseDelayMs when no admit comes, and at once on flush', async () => {
    const clock = { now: 4_000_000 };
    const l = limitsAt('timer', clock, { cap: 5, rate: 1000, burst: 1000, releaseDelayMs: 30 });
    const slots = await Promise.all([1, 2, 3].map(() => l.admission.admit(USER, 'r1').then(slotOf)));
    l.admission.release(slots[0]!);
    l.admission.release(slots[1]!);
    expect(await l.global.inFlight()).toBe(3);
    const deadline = Date.now() + 5_000;
    while ((await l.global.inFlight()) > 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    expect(await redis.zrange(l.global.slots.keys[0], 0, -1)).toEqual([slots[2]]);
    const slow = limitsAt('timer', clock, { cap: 5, rate: 1000, burst: 1000, releaseDelayMs: 60_000 });
    slow.admission.release(slots[2]!);
    expect(await l.global.inFlight()).toBe(1);
    await slow.admission.flush();
    expect(await l.global.inFlight()).toBe(0);
    expect(await redis.hgetall(l.global.slots.keys[1])).toEqual({});
  });

  it('keeps slots whose release failed with Redis unreachable, and gives them back once it is reachable', async () => {
    const l = await limitsOnUnreliableRedis('flaky', { now: 5_000_000 }, 60_000);
    const { client: flaky, errors } = l;
    try {
      const slot = slotOf(await l.admission.admit(USER, 'r1'));
      l.admission.release(slot);
      flaky.disconnect();
      await expect(l.admission.admit(USER, 'r1')).rejects.toThrow();
      expect(errors).toHaveLength(1);
      while (flaky.status !== 'end') await new Promise((r) => setTimeout(r, 5));
      await flaky.connect();
      expect(await redis.zrange(l.global.slots.keys[0], 0, -1)).toEqual([slot]);
      await l.admission.flush();
      expect(await redis.zcard(l.global.slots.keys[0])).toBe(0);
    } finally {
      flaky.disconnect();
    }
  });

  it('backs off while Redis stays unreachable: a try every doubling delay, not every releaseDelayMs', async () => {
    const l = await limitsOnUnreliableRedis('gone', { now: 6_000_000 }, 5);
    const { client: gone, errors } = l;
    const slot = slotOf(await l.admission.admit(USER, 'r1'));
    gone.disconnect();
    l.admission.release(slot);
    await new Promise((r) => setTimeout(r, 400));
    // Tries at about 5, 15, 35, 75, 155 and 315 ms: a handful, where a fixed 5 ms would have made about 80.
    expect(errors.length).toBeGreaterThanOrEqual(3);
    expect(errors.length).toBeLessThanOrEqual(10);
    // The slot is still held in Redis (nothing could give it back); its lease would free it.
    expect(await redis.zrange(l.global.slots.keys[0], 0, -1)).toEqual([slot]);
  });
});
