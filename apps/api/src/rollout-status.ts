import type { RedisClient } from '@fleet/queue';
import type { Database, RolloutRecord } from '@fleet/db';
import { countInstances, rolloutProgress } from '@fleet/db';
import { readRolloutLimits } from './rollout-limits.ts';
import { rolloutView } from './rollout-views.ts';

/** What GET /v1/rollouts/:id answers, and what a stream's `progress` event carries: one shape, read one way. */
export type RolloutStatusView = ReturnType<typeof rolloutView>;

/**
 * The rollout's status view: counts per state, progress (rate, ETA) as of `now` (default: this moment), wave and the
 * limits in force.
 */
export async function readRolloutStatus(
  deps: { db: Database; redis: RedisClient; queuePrefix: string },
  rollout: RolloutRecord,
  now: Date = new Date(),
): Promise<RolloutStatusView> {
  const [counts, limitsInForce] = await Promise.all([
    countInstances(deps.db, rollout.id),
    readRolloutLimits(deps, rollout.userId),
  ]);
  const progress = await rolloutProgress(deps.db, rollout, counts, now);
  return rolloutView(rollout, counts, { limitsInForce, progress });
}
