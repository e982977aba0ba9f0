import type { Cluster, Redis } from 'ioredis';
import { readLimitsConfig } from './limits-config.ts';
import { accountRateKey } from './limits-keys.ts';

export type LimitsInForce = {
  /** Most calls in flight over all rollouts and workers, as the workers were configured (null: no worker yet). */
  globalConcurrency: number | null;
  /** The configured per-account rate, requests per second. */
  accountRateLimitRps: number | null;
  /** The account's rate now, after adapting to throttling. */
  accountRateNowRps: number | null;
};

/** What the workers publish about the limits in force, and one account's adapted rate, for status answers. */
export async function readLimitsInForce(
  redis: Redis | Cluster,
  prefix: string,
  userId: string,
): Promise<LimitsInForce> {
  const [config, rate] = await Promise.all([
    readLimitsConfig(redis, prefix),
    redis.hget(accountRateKey(prefix, userId), 'rate'),
  ]);
  const configured = config.accountRateLimitRps;
  return {
    globalConcurrency: config.globalConcurrency,
    accountRateLimitRps: configured,
    accountRateNowRps: rate !== null ? Math.min(Number(rate), configured ?? Number(rate)) : configured,
  };
}
