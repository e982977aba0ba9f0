import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { deleteKeysWithPrefix, testRedisUrl, uniquePrefix } from '@fleet/testing';
import {
  createAccountRateLimiter,
  createGlobalConcurrency,
  publishLimitsConfig,
  readLimitsConfig,
  readLimitsInForce,
} from '../src/index.ts';
import { globalSlotKeys, limitsConfigKey } from '../src/limits-keys.ts';

const redis = new Redis(testRedisUrl());
const prefix = uniquePrefix('limits');
afterAll(async () => {
  await Promise.all(
    [prefix, `${prefix}-cap`, `${prefix}-fair`, `${prefix}-publish`].map((p) => deleteKeysWithPrefix(p)),
  );
  await redis.quit();
});

describe('global concurrency', () => {
  it('never grants more than the cap, across limiter instances, and frees expired leases of dead holders', async () => {
    let clock = 1_000;
    const a = createGlobalConcurrency(redis, { prefix: `${prefix}-cap`, cap: 3, leaseMs: 5000, now: () => clock });
    const b = createGlobalConcurrency(redis, { prefix: `${prefix}-cap`, cap: 3, leaseMs: 5000, now: () => clock });
    const tokens = await Promise.all([a.tryAcquire('r1'), b.tryAcquire('r1'), a.tryAcquire('r1'), b.tryAcquire('r1')]);
    expect(tokens.filter((t) => t !== null)).toHaveLength(3);
    expect(await a.inFlight()).toBe(3);
    await a.release(tokens.find((t) => t !== null)!);
    expect(await b.tryAcquire('r1')).not.toBeNull();
    expect(await b.tryAcquire('r1')).toBeNull();
    clock += 6000; // every holder died: leases ran out
    const fresh = await a.tryAcquire('r1');
    expect(fresh).not.toBeNull();
    expect(await a.inFlight()).toBe(1);
    // The expired leases left the rollout's count as well: it holds the one new slot, which fair shares go by.
    expect(await redis.hgetall(globalSlotKeys(`${prefix}-cap`)[1])).toEqual({ [fresh!]: 'r1', 'count:r1': '1' });
  });

  it('keeps a rollout at its fair share while another rollout is waiting', async () => {
    const clock = 1_000;
    const g = createGlobalConcurrency(redis, { prefix: `${prefix}-fair`, cap: 4, leaseMs: 60_000, now: () => clock });
    const first = [
      await g.tryAcquire('big'),
      await g.tryAcquire('big'),
      await g.tryAcquire('big'),
      await g.tryAcquire('big'),
    ];
    expect(first.every((t) => t !== null)).toBe(true); // nobody waiting: all free capacity may be used
    expect(await g.tryAcquire('small')).toBeNull(); // full: small is refused and now counts as waiting
    await g.release(first[0]!);
    expect(await g.tryAcquire('big')).toBeNull(); // big holds 3 >= fair share 2 while small waits
    expect(await g.tryAcquire('small')).not.toBeNull();
  });
});

describe('limits in force', () => {
  it('shows nulls before any worker published its limits', async () => {
    const fresh = `${prefix}-unpublished`;
    expect(await readLimitsConfig(redis, fresh)).toEqual({ globalConcurrency: null, accountRateLimitRps: null });
    expect(await readLimitsInForce(redis, fresh, '1234567898765432')).toEqual({
      globalConcurrency: null,
      accountRateLimitRps: null,
      accountRateNowRps: null,
    });
  });

  it('reads back what a worker published, under the one limits:config key of the prefix', async () => {
    const other = `${prefix}-publish`;
    await publishLimitsConfig(redis, other, { globalConcurrency: 200, accountRateLimitRps: 30 });
    expect(await readLimitsConfig(redis, other)).toEqual({ globalConcurrency: 200, accountRateLimitRps: 30 });
    expect(await redis.hgetall(limitsConfigKey(other))).toEqual({
      globalConcurrency: '200',
      accountRateLimitRps: '30',
    });
    // A second worker started with other values overwrites them: the last one to start is what the API shows.
    await publishLimitsConfig(redis, other, { globalConcurrency: 300, accountRateLimitRps: 40 });
    expect(await readLimitsConfig(redis, other)).toEqual({ globalConcurrency: 300, accountRateLimitRps: 40 });
  });

  it('reads the configuration workers publish and an account adapted rate', async () => {
    await publishLimitsConfig(redis, prefix, { globalConcurrency: 500, accountRateLimitRps: 50 });
    expect(await readLimitsInForce(redis, prefix, '1234567898765432')).toEqual({
      globalConcurrency: 500,
      accountRateLimitRps: 50,
      accountRateNowRps: 50,
    });
    const limiter = createAccountRateLimiter(redis, { prefix, maxRatePerSecond: 50 });
    await limiter.onThrottled('1234567898765432');
    expect((await readLimitsInForce(redis, prefix, '1234567898765432')).accountRateNowRps).toBe(25);
  });

  it('schedules each account at its own maximum and burst, and an adapted rate keeps its share of a changed maximum', async () => {
    const accountPrefix = `${prefix}-own`;
    let clock = 1_000_000;
    const limits = new Map([
      ['1111111111111111', { maxRatePerSecond: 2, burst: 1 }],
      ['2222222222222222', { maxRatePerSecond: 10, burst: 1 }],
    ]);
    const limiter = createAccountRateLimiter(redis, {
      prefix: accountPrefix,
      maxRatePerSecond: 50,
      now: () => clock,
      limitsOf: (userId) => limits.get(userId) ?? { maxRatePerSecond: 50, burst: 1 },
    });
    expect(await limiter.take('1111111111111111')).toBe(0);
    expect(await limiter.take('1111111111111111')).toBe(500);
    expect(await limiter.take('2222222222222222')).toBe(0);
    expect(await limiter.take('2222222222222222')).toBe(100);
    expect(await limiter.take('3333333333333333')).toBe(0);
    expect(await limiter.take('3333333333333333')).toBe(20);

    // Throttled at 10 calls/s: halved to 5. Its limit raised to 40 while so: it runs at half of that, 20.
    clock += 10_000;
    expect(await limiter.onThrottled('2222222222222222')).toBe(5);
    limits.set('2222222222222222', { maxRatePerSecond: 40, burst: 1 });
    expect(await limiter.currentRate('2222222222222222')).toBe(20);
    clock += 10_000;
    expect(await limiter.take('2222222222222222')).toBe(0);
    expect(await limiter.take('2222222222222222')).toBe(50);
    await deleteKeysWithPrefix(accountPrefix);
  });
});
