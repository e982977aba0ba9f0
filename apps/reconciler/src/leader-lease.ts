import type { RedisClient } from '@fleet/queue';

/**
 * One active reconciler among replicas: a Redis key held with a TTL and renewed by its holder. A replica that
 * stops renewing (crashed, partitioned) loses it after `ttlMs` and another takes over. Repairs are guarded writes,
 * so even a brief overlap at hand-over is safe.
 */
export type LeaderLease = { acquireOrRenew(): Promise<boolean>; release(): Promise<void> };

/** The lease passed to another replica during a pass: the pass stops where it is (its writes are guarded). */
export class LeaseLostError extends Error {
  override name = 'LeaseLostError';
}

const RENEW = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end`;
const RELEASE = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;

export function createLeaderLease(
  redis: RedisClient,
  options: { key: string; holder: string; ttlMs: number },
): LeaderLease {
  return {
    async acquireOrRenew() {
      const renewed = await redis.eval(RENEW, 1, options.key, options.holder, String(options.ttlMs));
      if (renewed === 1) return true;
      return (await redis.set(options.key, options.holder, 'PX', options.ttlMs, 'NX')) === 'OK';
    },
    async release() {
      await redis.eval(RELEASE, 1, options.key, options.holder);
    },
  };
}
