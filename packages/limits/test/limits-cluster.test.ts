/**
 * The limits on a Redis Cluster of the test's own: the call admission script takes an account's schedule and the
 * global cap's keys at once, which a cluster only runs when all of them hash to one slot (limits-keys.ts); on one node
 * nothing here could fail.
 */
import { Cluster } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPrivateRedisCluster, uniquePrefix, waitFor } from '@fleet/testing';
import type { PrivateRedisCluster } from '@fleet/testing';
import {
  createAccountRateLimiter,
  createCallAdmission,
  createGlobalConcurrency,
  publishLimitsConfig,
  readLimitsInForce,
} from '../src/index.ts';

const prefix = uniquePrefix('limits-cluster');
let cluster: PrivateRedisCluster;
let redis: Cluster;

beforeAll(async () => {
  cluster = await startPrivateRedisCluster();
  redis = new Cluster(cluster.nodes, { redisOptions: { maxRetriesPerRequest: 1 } });
  await waitFor('the cluster connection ready', () => redis.status === 'ready');
}, 60_000);

afterAll(async () => {
  await redis?.quit();
  await cluster?.stop();
});

describe('limits on a Redis Cluster', () => {
  it('admits calls of several accounts under one global cap, gives slots back, and reads the limits in force', async () => {
    const rate = createAccountRateLimiter(redis, { prefix, maxRatePerSecond: 1000, burst: 10 });
    const global = createGlobalConcurrency(redis, { prefix, cap: 3, leaseMs: 10_000 });
    const admission = createCallAdmission({ rate, global });
    const answers = await Promise.all(
      ['1001', '1002', '1003', '1004'].map((userId) => admission.admit(userId, `rollout-${userId}`)),
    );
    expect(answers.filter((a) => a.kind === 'admitted')).toHaveLength(3);
    expect(answers.filter((a) => a.kind === 'slot')).toHaveLength(1);
    expect(await global.inFlight()).toBe(3);
    for (const answer of answers) if (answer.kind === 'admitted') admission.release(answer.slot);
    await admission.flush();
    expect(await global.inFlight()).toBe(0);

    expect(await rate.onThrottled('1001')).toBe(500);
    await publishLimitsConfig(redis, prefix, { globalConcurrency: 3, accountRateLimitRps: 1000 });
    expect(await readLimitsInForce(redis, prefix, '1001')).toEqual({
      globalConcurrency: 3,
      accountRateLimitRps: 1000,
      accountRateNowRps: 500,
    });
  });
});
