import type { RedisClient } from '@fleet/queue';
import type { Database } from '@fleet/db';
import { findAccountRateLimit } from '@fleet/db';
import type { LimitsInForce } from '@fleet/limits';
import { readLimitsInForce } from '@fleet/limits';

/**
 * The limits in force for an account's rollouts (global cap, account rate), as the workers publish them in Redis.
 * Every answer that shows a rollout's `limits` reads them here, so a 202 shows what a GET shows. Null when Redis
 * does not answer: the rollout still answers, without those figures. An account with a rate limit of its own
 * (`PATCH /v1/accounts/{userId}`) shows that one.
 */
export async function readRolloutLimits(
  deps: { db: Database; redis: RedisClient; queuePrefix: string },
  userId: string,
): Promise<LimitsInForce | null> {
  const own = await findAccountRateLimit(deps.db, userId);
  return readLimitsInForce(deps.redis, deps.queuePrefix, userId, own).catch(() => null);
}
