import type { Database } from './client.ts';

/** How long an account's NodeInstall calls took lately: the median of a sample, and the sample's size. */
export type RecentCallLatency = {
  /** Median duration of the sampled calls, in ms; null when there is no sample. */
  medianMs: number | null;
  /** Calls the median is taken over (0: none recent). */
  samples: number;
};

/** Rollouts of the account looked at: the newest this many, created within RECENT_DAYS. */
const RECENT_ROLLOUTS = 5;
const RECENT_DAYS = 7;
/** Finished instances looked at per rollout, newest first; each brings its attempts. */
const INSTANCES_PER_ROLLOUT = 200;

/**
 * The median duration of an account's recent NodeInstall calls, for the dry run's estimate. It reads a bounded
 * sample through indexes only (the account's newest rollouts by rollout(user_id, created_at), their newest finished
 * instances by rollout_instance(rollout_id, state, id), their attempts by (rollout_instance_id, attempt_no)), so its
 * cost does not grow with the account's history. Read-only.
 */
export async function recentCallLatency(db: Database, userId: string): Promise<RecentCallLatency> {
  const { rows } = await db.pool.query<{ median: number | null; samples: number }>({
    text: `SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY a.duration_ms)::float8 AS median, count(*)::int AS samples
      FROM (SELECT id FROM rollout WHERE user_id = $1 AND created_at > now() - make_interval(days => $2::int)
            ORDER BY created_at DESC LIMIT $3::int) r
      CROSS JOIN LATERAL (
        SELECT id FROM rollout_instance i
        WHERE i.rollout_id = r.id AND i.state IN ('succeeded', 'failed')
        ORDER BY i.id DESC LIMIT $4::int) i
      JOIN install_attempt a ON a.rollout_instance_id = i.id
      WHERE a.kind = 'install' AND a.duration_ms IS NOT NULL`,
    values: [userId, RECENT_DAYS, RECENT_ROLLOUTS, INSTANCES_PER_ROLLOUT],
  });
  const row = rows[0];
  return { medianMs: row?.median ?? null, samples: row?.samples ?? 0 };
}
