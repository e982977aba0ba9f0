import type { InstanceState, RolloutProgress } from '@fleet/rollout-domain';
import type { Database } from './client.ts';
import { progressOf, progressWindow } from './reports.ts';
import type { InstanceCounts, RolloutRecord } from './rollouts.ts';
import { instanceCountsOf } from './rollouts.ts';

/** What a rollout's status answer reads from Postgres besides the rollout row. */
export type RolloutStatusFigures = {
  counts: InstanceCounts;
  /** The account's own rate limit (PATCH /v1/accounts/{userId}); null: none, the workers' configured one applies. */
  accountRateLimitRps: number | null;
  /** As of `now`, as rolloutProgress has it. */
  progress: RolloutProgress;
};

/**
 * The counts per state, the account's own rate limit and the progress of `rollout` as of `now`, in one prepared
 * statement: what countInstances, findAccountRateLimit and rolloutProgress read, in one round trip instead of three.
 * Pollers ask for a rollout's status every second or so, and each round trip costs the API and Postgres more CPU
 * than the rows it reads (a write, a wake-up, a parse on both sides).
 */
export async function readRolloutStatusFigures(
  db: Database,
  rollout: Pick<RolloutRecord, 'id' | 'userId' | 'status' | 'createdAt' | 'finishedAt'>,
  now: Date = new Date(),
): Promise<RolloutStatusFigures> {
  const window = progressWindow(rollout, now);
  const { rows } = await db.pool.query<{
    counts: { state: InstanceState; n: number }[] | null;
    rate_limit_rps: number | null;
    finished: string | null;
  }>({
    name: 'fleet_read_rollout_status',
    text: `SELECT
        (SELECT json_agg(c) FROM (SELECT state, n FROM rollout_state_count WHERE rollout_id = $1::uuid) c) AS counts,
        (SELECT rate_limit_rps FROM account WHERE user_id = $2) AS rate_limit_rps,
        (SELECT sum(n) FROM rollout_finish_second
          WHERE NOT $5::boolean AND rollout_id = $1::uuid AND second >= $3::timestamptz AND second < $4::timestamptz
        ) AS finished`,
    values: [rollout.id, rollout.userId, window.from, window.to, window.final],
  });
  const row = rows[0];
  const counts = instanceCountsOf(row?.counts ?? []);
  return {
    counts,
    accountRateLimitRps: row?.rate_limit_rps ?? null,
    progress: progressOf(rollout, counts, window, Number(row?.finished ?? 0), now),
  };
}
