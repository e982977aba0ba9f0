import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { deleteKeysWithPrefix, testRedisUrl, uniquePrefix } from '@fleet/testing';
import { createAccountRateLimiter } from '../src/index.ts';

const redis = new Redis(testRedisUrl());
const prefix = uniquePrefix('rate-adaptation');
afterAll(async () => {
  await deleteKeysWithPrefix(prefix);
  await redis.quit();
});

/** A limiter at 100/s, steps of 2/s a second, on a clock the test moves. */
function limiterAt(clock: { now: number }, decreaseCooldownMs = 200) {
  return createAccountRateLimiter(redis, {
    prefix,
    maxRatePerSecond: 100,
    additiveIncrease: 2,
    increaseIntervalMs: 1000,
    decreaseCooldownMs,
    successReportIntervalMs: 0,
    now: () => clock.now,
  });
}

describe('the adapted rate', () => {
  it('falls once per reaction: answers to calls reserved before the last decrease do not lower it again', async () => {
    const clock = { now: 10_000_000 };
    const limiter = limiterAt(clock);
    const user = '5000000000000001';
    const reservedBefore = clock.now - 300;
    expect(await limiter.onThrottled(user, reservedBefore)).toBe(50);
    // A second of calls spaced at 100/s is still going out, and is throttled: the rate stays at 50.
    for (let ms = 250; ms <= 1200; ms += 250) {
      clock.now += 250;
      expect(await limiter.onThrottled(user, reservedBefore + ms / 10)).toBe(50);
    }
    // A call reserved after the decrease, at 50/s, is throttled too: that is news, and the rate halves again.
    expect(await limiter.onThrottled(user, clock.now - 100)).toBe(25);
    // Without a reserved start (a status check), only the cooldown counts.
    clock.now += 100;
    expect(await limiter.onThrottled(user)).toBe(25);
    clock.now += 200;
    expect(await limiter.onThrottled(user)).toBe(12.5);
  });

  it('climbs back by half the distance to the rate it was throttled at, then probes above it by doubling steps', async () => {
    const clock = { now: 20_000_000 };
    const limiter = limiterAt(clock);
    const user = '5000000000000002';
    // Throttled at 100/s: halved to 50, the ceiling 100.
    clock.now += 1000;
    expect(await limiter.onThrottled(user, clock.now)).toBe(50);
    clock.now += 1000;
    for (let i = 0; i < 5; i++) {
      clock.now += 1000;
      await limiter.onSuccess(user);
    }
    const climbed = await limiter.currentRate(user);
    // From 50 under the ceiling 100 (target 95), half the distance or the step of 2, whichever is more: 72.5, 83.75,
    // 89.375, 92.1875, 94.1875.
    expect(climbed).toBeCloseTo(94.1875, 6);
    clock.now += 1000;
    expect(await limiter.onThrottled(user, clock.now)).toBeCloseTo(47.09375, 6);
    const rates: number[] = [];
    for (let i = 0; i < 12; i++) {
      clock.now += 1000;
      rates.push(await limiter.onSuccess(user));
    }
    // Below 0.95 of the new ceiling, 94.1875 (89.478125): half the distance each second, at least 2.
    expect(rates[0]).toBeCloseTo(47.09375 + (89.478125 - 47.09375) / 2, 6);
    for (let i = 1; i < rates.length; i++) expect(rates[i]!).toBeGreaterThan(rates[i - 1]! - 1e-9);
    // Reaching the target takes a few seconds, not the 21 that steps of 2 would; past it the steps double: 2, 4, 8...
    const reached = rates.findIndex((r) => r >= 89.478125 - 2);
    expect(reached).toBeGreaterThan(0);
    expect(reached).toBeLessThanOrEqual(6);
    expect(rates.at(-1)).toBe(100);
  });

  it('finds a lifted quota within seconds: from a quarter of the maximum back to all of it in under fifteen', async () => {
    const clock = { now: 30_000_000 };
    const limiter = limiterAt(clock);
    const user = '5000000000000003';
    expect(await limiter.onThrottled(user, clock.now)).toBe(50);
    clock.now += 1000;
    expect(await limiter.onThrottled(user, clock.now)).toBe(25);
    let seconds = 0;
    let rate = 25;
    while (rate < 100 && seconds < 60) {
      clock.now += 1000;
      seconds++;
      rate = await limiter.onSuccess(user);
    }
    expect(rate).toBe(100);
    // Linear steps of 2/s took 38 s for the same climb.
    expect(seconds).toBeLessThan(15);
  });
});
