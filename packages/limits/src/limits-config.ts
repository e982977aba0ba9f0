import type { Cluster, Redis } from 'ioredis';
import { limitsConfigKey } from './limits-keys.ts';

/** The limits a worker process was started with, as it publishes them for status answers. */
export type LimitsConfig = {
  /** Most calls in flight over all rollouts and workers (GLOBAL_CONCURRENCY). */
  globalConcurrency: number;
  /** Requests per second per account before any throttling (ACCOUNT_RATE_LIMIT_RPS). */
  accountRateLimitRps: number;
};

/**
 * Publishes the limits a worker runs with, so that the API can show the limits in force. Every worker of a
 * deployment is given the same values; the last one to start writes them.
 */
export async function publishLimitsConfig(redis: Redis | Cluster, prefix: string, config: LimitsConfig): Promise<void> {
  await redis.hset(limitsConfigKey(prefix), {
    globalConcurrency: config.globalConcurrency,
    accountRateLimitRps: config.accountRateLimitRps,
  });
}

/** The limits the workers published; a field is null until a worker has published it. */
export async function readLimitsConfig(
  redis: Redis | Cluster,
  prefix: string,
): Promise<{ [K in keyof LimitsConfig]: LimitsConfig[K] | null }> {
  const config = await redis.hgetall(limitsConfigKey(prefix));
  return {
    globalConcurrency: config.globalConcurrency ? Number(config.globalConcurrency) : null,
    accountRateLimitRps: config.accountRateLimitRps ? Number(config.accountRateLimitRps) : null,
  };
}
