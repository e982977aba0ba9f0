import type { RedisClient } from '@fleet/queue';
import type { Database, RolloutRecord } from '@fleet/db';
import { readRolloutStatusFigures } from '@fleet/db';
import { readLimitsInForce } from '@fleet/limits';
import { rolloutView } from './rollout-views.ts';

/** What GET /v1/rollouts/:id answers, and what a stream's `progress` event carries: one shape, read one way. */
export type RolloutStatusView = ReturnType<typeof rolloutView>;

/**
 * The rollout's status view: counts per state, progress (rate, ETA) as of `now` (default: this moment), wave and the
 * limits in force. One Postgres statement (counts, the account's own rate limit, the finishes in the progress window)
 * and then the limits the workers publish in Redis (null when Redis does not answer, as readRolloutLimits has it).
 */
export async function readRolloutStatus(
  deps: { db: Database; redis: RedisClient; queuePrefix: string },
  rollout: RolloutRecord,
  now: Date = new Date(),
): Promise<RolloutStatusView> {
  const { counts, accountRateLimitRps, progress } = await readRolloutStatusFigures(deps.db, rollout, now);
  const limitsInForce = await readLimitsInForce(
    deps.redis,
    deps.queuePrefix,
    rollout.userId,
    accountRateLimitRps,
  ).catch(() => null);
  return rolloutView(rollout, counts, { limitsInForce, progress });
}
