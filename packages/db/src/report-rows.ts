import type { InstanceState } from '@fleet/rollout-domain';
import type { InstanceRecord } from './instances.ts';

/** One instance as the failure report shows it. */
export type ReportInstanceRow = Pick<
  InstanceRecord,
  | 'id'
  | 'instanceId'
  | 'state'
  | 'attemptCount'
  | 'lastOutcome'
  | 'lastHttpStatus'
  | 'lastErrorCode'
  | 'lastErrorMessage'
  | 'lastRequestId'
  | 'needsManualInstall'
  | 'manualInstallReason'
  | 'finishedAt'
> & {
  verification: string | null;
  agentStatus: string | null;
  /**
   * The host's current manual-install flag (the one not closed, else its latest closed one), whatever rollout raised
   * it: flags are per host and carried across rollouts, and this is the one an operator acts on. The retry of failed
   * instances leaves out those whose host's flag is resolved or closed.
   */
  flagId: bigint | null;
  flagStatus: string | null;
  /** The failure's cause (fleet_failure_cause, see report-rows.ts); null for an instance that did not fail. */
  cause: string | null;
};

/** What a ReportInstanceRow's columns but its cause are, for statements over `ri` joined to `f` (see REPORT_COLUMNS). */
const REPORT_COLUMNS_BUT_CAUSE = `ri.id::text AS id, ri.instance_id, ri.state::text AS state, ri.attempt_count,
  ri.last_outcome, ri.last_http_status, ri.last_error_code, ri.last_error_message, ri.last_request_id,
  ri.needs_manual_install, ri.manual_install_reason, ri.verification, ri.agent_status, ri.finished_at,
  f.id::text AS flag_id, f.status::text AS flag_status`;

/**
 * The columns of a ReportInstanceRow, for statements over `rollout_instance ri` joined to the host's flag `f` (see
 * reports.ts and failure-counts.ts). `cause` is fleet_failure_cause for a failure (a failed install, or a succeeded one
 * whose verification failed), null otherwise: the same function the triggers count failures by, so the report's
 * groups, its CSV and the retry of a cause all agree on what a cause is.
 */
export const REPORT_COLUMNS = `${REPORT_COLUMNS_BUT_CAUSE},
  CASE WHEN ri.state = 'failed' OR (ri.state = 'succeeded' AND ri.verification = 'failed')
    THEN fleet_failure_cause(ri.state = 'failed', ri.last_error_code, ri.last_error_message, ri.agent_status,
      ri.manual_install_reason) END AS cause`;

/**
 * The columns of a ReportInstanceRow whose cause the statement already knows (`causeExpression`, e.g. the cause it
 * looked the row up by): fleet_failure_cause runs six regular expressions over the message, about 0.1 ms of Postgres
 * CPU a row, which made most of a failure report's cost when it ran again for every instance listed.
 */
export function reportColumnsWithCause(causeExpression: string): string {
  return `${REPORT_COLUMNS_BUT_CAUSE}, ${causeExpression} AS cause`;
}

/**
 * Joins `ri` (rollout_instance) to its host's current manual-install flag as `f`: the one not closed, else the latest
 * closed one, whichever rollout raised it (flags are per host, see ReportInstanceRow.flagId).
 */
export const HOST_FLAG_JOIN = `JOIN rollout r ON r.id = ri.rollout_id
  LEFT JOIN LATERAL (
    SELECT f.id, f.status FROM manual_install_flag f
    WHERE f.user_id = r.user_id AND f.instance_id = ri.instance_id
    ORDER BY f.status = 'closed', f.id DESC
    LIMIT 1
  ) f ON true`;

export type RawReportRow = {
  id: string;
  instance_id: string;
  state: InstanceState;
  attempt_count: number;
  last_outcome: string | null;
  last_http_status: number | null;
  last_error_code: string | null;
  last_error_message: string | null;
  last_request_id: string | null;
  needs_manual_install: boolean;
  manual_install_reason: string | null;
  verification: string | null;
  agent_status: string | null;
  finished_at: Date | null;
  flag_id: string | null;
  flag_status: string | null;
  cause: string | null;
};

export function reportRowFrom(r: RawReportRow): ReportInstanceRow {
  return {
    id: BigInt(r.id),
    instanceId: r.instance_id,
    state: r.state,
    attemptCount: r.attempt_count,
    lastOutcome: r.last_outcome,
    lastHttpStatus: r.last_http_status,
    lastErrorCode: r.last_error_code,
    lastErrorMessage: r.last_error_message,
    lastRequestId: r.last_request_id,
    needsManualInstall: r.needs_manual_install,
    manualInstallReason: r.manual_install_reason,
    verification: r.verification,
    agentStatus: r.agent_status,
    finishedAt: r.finished_at,
    flagId: r.flag_id === null ? null : BigInt(r.flag_id),
    flagStatus: r.flag_status,
    cause: r.cause,
  };
}
