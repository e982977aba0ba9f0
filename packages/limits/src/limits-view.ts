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

/**
 * What the workers publish about the limits in force, and one account's adapted rate, for status answers.
 * `accountMaxRps`: the account's own rate limit (its settings), when it has one; else the workers' configured rate.
 */
export async function readLimitsInForce(
  redis: Redis | Cluster,
  prefix: string,
  userId: string,
  accountMaxRps: number | null = null,
): Promise<LimitsInForce> {
  const [config, [rate, adaptedUnder]] = await Promise.all([
    readLimitsConfig(redis, prefix),
    redis.hmget(accountRateKey(prefix, userId), 'rate', 'max'),
  ]);
  const configured = accountMaxRps ?? config.accountRateLimitRps;
  // An adapted rate keeps its share of the maximum it was adapted under (see account-rate-limiter.ts).
  const adapted =
    rate === null
      ? null
      : adaptedUnder !== null && configured !== null
        ? (Number(rate) * configured) / Number(adaptedUnder)
        : Number(rate);
  return {
    globalConcurrency: config.globalConcurrency,
    accountRateLimitRps: configured,
    accountRateNowRps: adapted !== null ? Math.min(adapted, configured ?? adapted) : configured,
  };
}
