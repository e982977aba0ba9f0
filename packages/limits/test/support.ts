import { Redis } from 'ioredis';
import { afterAll } from 'vitest';
import { deleteKeysWithPrefix, testRedisUrl } from '@fleet/testing';
import type { CallAdmissionOptions } from '../src/index.ts';
import { createAccountRateLimiter, createCallAdmission, createGlobalConcurrency } from '../src/index.ts';

/**
 * An account rate, a global cap (leases of a minute) and the admission over both, under `prefix`, on `clock`. The
 * admission's start lead is 0 unless given, so that a schedule's figures read as the schedule itself.
 */
export function createLimits(
  redis: Redis,
  prefix: string,
  clock: { now: number },
  options: { cap: number; rate: number; burst: number; admission: CallAdmissionOptions },
) {
  const now = () => clock.now;
  const rate = createAccountRateLimiter(redis, { prefix, maxRatePerSecond: options.rate, burst: options.burst, now });
  const global = createGlobalConcurrency(redis, { prefix, cap: options.cap, leaseMs: 60_000, now });
  return { rate, global, admission: createCallAdmission({ rate, global }, { startLeadMs: 0, ...options.admission }) };
}

/**
 * Two connections to the test Redis (two processes' worth) and the prefixes a test file used, all cleaned up after
 * the file: its keys deleted, the connections closed.
 */
export function testConnections(): { redis: Redis; other: Redis; used: Set<string> } {
  const redis = new Redis(testRedisUrl());
  const other = new Redis(testRedisUrl());
  const used = new Set<string>();
  afterAll(async () => {
    await Promise.all([...used].map((p) => deleteKeysWithPrefix(p)));
    await Promise.all([redis.quit(), other.quit()]);
  });
  return { redis, other, used };
}
