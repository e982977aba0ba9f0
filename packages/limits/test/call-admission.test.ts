import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { deleteKeysWithPrefix, testRedisUrl, uniquePrefix } from '@fleet/testing';
import { createAccountRateLimiter, createCallAdmission, createGlobalConcurrency } from '../src/index.ts';

const redis = new Redis(testRedisUrl());
const prefix = uniquePrefix('limits-admit');
const used = new Set<string>();
afterAll(async () => {
  await Promise.all([...used].map((p) => deleteKeysWithPrefix(p)));
  await redis.quit();
});

const USER = '1234567898765432';

function limitsAt(name: string, clock: { now: number }, options: { cap: number; rate: number; burst: number }) {
  const p = `${prefix}-${name}`;
  used.add(p);
  const rate = createAccountRateLimiter(redis, { prefix: p, maxRatePerSecond: options.rate, burst: options.burst, now: () => clock.now });
  const global = createGlobalConcurrency(redis, { prefix: p, cap: options.cap, leaseMs: 60_000, now: () => clock.now });
  return { rate, global, admission: createCallAdmission({ rate, global }) };
}

describe('call admission (rate token and global slot in one step)', () => {
  it('admits within both limits, across admission instances, and shares buckets and slots with take / tryAcquire', async () => {
    const clock = { now: 1_000_000 };
    const one = limitsAt('shared', clock, { cap: 3, rate: 10, burst: 5 });
    const two = limitsAt('shared', clock, { cap: 3, rate: 10, burst: 5 });
    const answers = await Promise.all([1, 2, 3, 4].map((i) => (i % 2 ? one : two).admission.admit(USER, 'r1')));
    expect(answers.filter((a) => a.kind === 'admitted')).toHaveLength(3);
    expect(answers.filter((a) => a.kind === 'slot')).toHaveLength(1);
    expect(await one.global.inFlight()).toBe(3);
    // The refused call kept its token: 5 - 3 = 2 left, taken by the plain limiter and then the admission.
    expect(await one.rate.take(USER)).toBe(0);
    const admitted = answers.flatMap((a) => (a.kind === 'admitted' ? [a.slot] : []));
    await one.global.release(admitted[0]!);
    expect(await two.admission.admit(USER, 'r1')).toMatchObject({ kind: 'admitted' });
    await one.global.release(admitted[1]!);
    // Tokens are spent now (5 taken): the rate answers first, with the wait for one token at 10/s, and takes no slot.
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
});
