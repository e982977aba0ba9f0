import type { InstanceState, ManualFlagStatus, RolloutProgress } from '@fleet/rollout-domain';
import type { Database } from './client.ts';
import type { FailureCauseCount, FailureCountRow } from './failure-counts.ts';
import { failureCauseCountOf } from './failure-counts.ts';
import { flagCountsOf } from './manual-install-flags.ts';
import type { RetryRollout, VerificationCounts } from './reports.ts';
import { progressOf, progressWindow, verificationCountsOf } from './reports.ts';
import type { InstanceCounts, RolloutRecord } from './rollouts.ts';
import { instanceCountsOf } from './rollouts.ts';

/** Everything the JSON failure report shows of a rollout but its instances (listFailureCauseInstances). */
export type ReportFigures = {
  counts: InstanceCounts;
  verification: VerificationCounts;
  manualInstallFlags: Record<ManualFlagStatus, number>;
  retries: RetryRollout[];
  /** As listFailureCauseCounts has them: by cause, reason, outcome. */
  causeCounts: FailureCauseCount[];
  progress: RolloutProgress;
};

type Row = {
  counts: { state: InstanceState; n: number }[] | null;
  verification: { verification: string; n: number }[] | null;
  flags: { status: ManualFlagStatus; n: number }[] | null;
  retries: { id: string; status: string; totalInstances: number; createdAt: string }[] | null;
  causes: FailureCountRow[] | null;
  finished: string | null;
};

/**
 * The failure report's counts in one prepared statement: what countInstances, countVerifications,
 * countManualInstallFlags, listRetryRollouts, listFailureCauseCounts and rolloutProgress read, each part as a JSON
 * array of the rows that function reads (and turned into its answer the same way), in one round trip instead of six.
 * Pollers ask for the report about as often as for the status, and each round trip cost the API and Postgres more
 * CPU than the few rows it read.
 */
export async function readReportFigures(
  db: Database,
  rollout: Pick<RolloutRecord, 'id' | 'status' | 'createdAt' | 'finishedAt'>,
  now: Date = new Date(),
): Promise<ReportFigures> {
  const window = progressWindow(rollout, now);
  const { rows } = await db.pool.query<Row>({
    name: 'fleet_read_report_figures',
    text: `SELECT
        (SELECT json_agg(c) FROM (SELECT state, n FROM rollout_state_count WHERE rollout_id = $1::uuid) c) AS counts,
        (SELECT json_agg(v) FROM (
          SELECT verification, n FROM rollout_verification_count WHERE rollout_id = $1::uuid) v) AS verification,
        (SELECT json_agg(f) FROM (
          SELECT f.status, count(*) AS n
          FROM manual_install_flag_occurrence o JOIN manual_install_flag f ON f.id = o.flag_id
          WHERE o.rollout_id = $1::uuid GROUP BY f.status) f) AS flags,
        (SELECT json_agg(r ORDER BY r."createdAt", r.id) FROM (
          SELECT id, status, total_instances AS "totalInstances", created_at AS "createdAt"
          FROM rollout WHERE parent_rollout_id = $1::uuid) r) AS retries,
        (SELECT json_agg(c ORDER BY c.cause, c.reason, c.outcome) FROM (
          SELECT cause, kind, manual_install_reason AS reason, last_outcome AS outcome, n, sample_message
          FROM rollout_failure_count WHERE rollout_id = $1::uuid AND n > 0) c) AS causes,
        (SELECT sum(n) FROM rollout_finish_second
          WHERE NOT $4::boolean AND rollout_id = $1::uuid AND second >= $2::timestamptz AND second < $3::timestamptz
        ) AS finished`,
    values: [rollout.id, window.from, window.to, window.final],
  });
  const row = rows[0];
  const counts = instanceCountsOf(row?.counts ?? []);
  return {
    counts,
    verification: verificationCountsOf(row?.verification ?? []),
    manualInstallFlags: flagCountsOf(row?.flags ?? []),
    retries: (row?.retries ?? []).map((r) => ({ ...r, createdAt: new Date(r.createdAt) })),
    causeCounts: (row?.causes ?? []).map(failureCauseCountOf),
    progress: progressOf(rollout, counts, window, Number(row?.finished ?? 0), now),
  };
}
