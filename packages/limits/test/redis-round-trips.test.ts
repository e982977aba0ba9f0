import { createHash, randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { deleteKeysWithPrefix, testRedisUrl, uniquePrefix } from '@fleet/testing';
import { createAccountRateLimiter } from '../src/index.ts';
import { accountRateKey } from '../src/limits-keys.ts';
import { luaScript } from '../src/lua-script.ts';

const redis = new Redis(testRedisUrl());
const prefix = uniquePrefix('limits-rt');
afterAll(async () => {
  await deleteKeysWithPrefix(prefix);
  await redis.quit();
});

describe('lua scripts by hash', () => {
  it('loads a script Redis does not know on first use (EVAL), then runs it by its hash', async () => {
    const source = `return ARGV[1] .. '${randomUUID()}'`; // a script no Redis has seen
    const run = luaScript(source);
    const hashOf = createHash('sha1').update(source).digest('hex');
    expect(await redis.script('EXISTS', hashOf)).toEqual([0]);
    expect(await run(redis, 0, 'a')).toMatch(/^a/);
    expect(await redis.script('EXISTS', hashOf)).toEqual([1]);
    expect(await run(redis, 0, 'b')).toMatch(/^b/);
  });
});

describe('account rate limiter success reports', () => {
  it('reports a success at most once per successReportIntervalMs per account; throttling is always reported', async () => {
    let clock = 5_000_000;
    const limiter = createAccountRateLimiter(redis, {
      prefix,
      maxRatePerSecond: 100,
      additiveIncrease: 10,
      increaseIntervalMs: 1000,
      decreaseCooldownMs: 0,
      successReportIntervalMs: 100,
      now: () => clock,
    });
    const user = '1111222233334444';
    const key = accountRateKey(prefix, user);
    expect(await limiter.onThrottled(user)).toBe(50);
    clock += 1000;
    // Half the way back to 0.95 of the rate it was throttled at (100): 72.5.
    expect(await limiter.onSuccess(user)).toBe(72.5);
    // Redis changes behind the limiter's back: a report within the interval does not reach Redis to see it.
    await redis.hset(key, 'rate', '77');
    clock += 50;
    expect(await limiter.onSuccess(user)).toBe(72.5);
    clock += 100;
    expect(await limiter.onSuccess(user)).toBe(77);
    expect(await limiter.onThrottled(user)).toBe(38.5);
  });
});
