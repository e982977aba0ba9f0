import type { FailureKind } from '@fleet/rollout-domain';
import type { Database } from './client.ts';
import { HOST_FLAG_JOIN, reportColumnsWithCause, reportRowFrom } from './report-rows.ts';
import type { RawReportRow, ReportInstanceRow } from './report-rows.ts';

/**
 * The failure report's reads of maintained counts: failures per cause, and the first instances of each cause. Both
 * read rows the triggers on rollout_instance keep (migration rollout_failure_counts), so a report costs a few rows
 * and, per cause listed, an index range, whatever the rollout's size: the report used to read and group every
 * failed instance on each call. Straight to pg, not through Prisma (pollers ask for reports every second): the counts
 * as a prepared statement, the instances unnamed so each run is planned with its causes (see listInstances).
 */

/** Failures of one cause with one manual-install reason and one last outcome. */
export type FailureCauseCount = {
  /** `<errorCode>: <normalised message>`, from fleet_failure_cause (the SQL twin of failureCauseOf). */
  cause: string;
  kind: FailureKind;
  manualInstallReason: string | null;
  lastOutcome: string | null;
  count: number;
  /** One real message of the cause (install failures only). */
  sampleMessage: string | null;
};

/** A rollout's failures by cause, reason and outcome: the counters that are not zero. */
export async function listFailureCauseCounts(db: Database, rolloutId: string): Promise<FailureCauseCount[]> {
  const { rows } = await db.pool.query<FailureCountRow>({
    name: 'fleet_list_failure_cause_counts',
    text: `SELECT cause, kind, manual_install_reason AS reason, last_outcome AS outcome, n, sample_message
      FROM rollout_failure_count WHERE rollout_id = $1::uuid AND n > 0 ORDER BY cause, reason, outcome`,
    values: [rolloutId],
  });
  return rows.map(failureCauseCountOf);
}

/** A rollout_failure_count row as `cause, kind, reason, outcome, n, sample_message` (see listFailureCauseCounts). */
export type FailureCountRow = {
  cause: string;
  kind: FailureKind;
  reason: string;
  outcome: string;
  n: number;
  sample_message: string | null;
};

export function failureCauseCountOf(row: FailureCountRow): FailureCauseCount {
  return {
    cause: row.cause,
    kind: row.kind,
    manualInstallReason: row.reason === '' ? null : row.reason,
    lastOutcome: row.outcome === '' ? null : row.outcome,
    count: row.n,
    sampleMessage: row.kind === 'install_failed' ? row.sample_message : null,
  };
}

/**
 * The first `perCause` failed instances (id order) of each of `causes`, in one statement: an index range per cause
 * on the failures-only index (rollout_id, fleet_failure_cause(...), id), so listing 20 of a cause with 20,000 reads 20.
 */
export async function listFailureCauseInstances(
  db: Database,
  rolloutId: string,
  causes: readonly string[],
  perCause: number,
): Promise<ReportInstanceRow[]> {
  if (causes.length === 0 || perCause <= 0) return [];
  const { rows } = await db.pool.query<RawReportRow>({
    // The cause of each row is the one it was found by (the index's expression equals it): not computed again.
    text: `SELECT ${reportColumnsWithCause('wanted.cause')}
      FROM unnest($2::text[]) AS wanted(cause)
      CROSS JOIN LATERAL (
        SELECT * FROM rollout_instance ri
        WHERE ri.rollout_id = $1::uuid AND (ri.state = 'failed' OR (ri.state = 'succeeded' AND ri.verification = 'failed'))
          AND fleet_failure_cause(ri.state = 'failed', ri.last_error_code, ri.last_error_message, ri.agent_status,
                ri.manual_install_reason) = wanted.cause
        ORDER BY ri.id LIMIT $3
      ) AS ri
      ${HOST_FLAG_JOIN}
      ORDER BY ri.id`,
    values: [rolloutId, causes, perCause],
  });
  return rows.map(reportRowFrom);
}
