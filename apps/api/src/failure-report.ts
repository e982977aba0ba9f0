import type { Response } from 'express';
import { RECOMMENDED_ACTIONS } from '@fleet/cms-client';
import type { CallOutcomeKind } from '@fleet/cms-client';
import type { ReportInstanceRow } from '@fleet/db';
import type { FailureCause, FailureKind } from '@fleet/rollout-domain';
import { failureCauseOf, manualInstallAction } from '@fleet/rollout-domain';

/**
 * The failure report of a rollout: failed instances (and succeeded installs whose agent never came up) grouped by
 * cause, each group with what an operator should do. Built from pages of rows (see iterateReportInstances), so it
 * stays flat in memory at 100,000 instances: a group keeps its counts and at most `instancesPerGroup` instances.
 */

/** Distinct causes kept; beyond it (messages normalisation could not tame) a cause folds into its error code. */
const MAX_GROUPS = 500;

export type ReportInstanceView = {
  instanceId: string;
  state: string;
  lastRequestId: string | null;
  attempts: number;
  lastError: { code: string | null; message: string | null; httpStatus: number | null; outcome: string | null } | null;
  manualInstallReason: string | null;
  verification: string | null;
  agentStatus: string | null;
  manualInstallFlag: { id: string; status: string } | null;
  finishedAt: string | null;
};

export type FailureGroupView = {
  cause: string;
  kind: FailureKind;
  errorCode: string;
  /** The message with instance ids, UUIDs, numbers and quoted values replaced by placeholders. */
  normalisedMessage: string;
  /** One real message of the group, for whoever searches the documentation or talks to support. */
  sampleMessage: string | null;
  count: number;
  manualInstallReasons: Record<string, number>;
  recommendedAction: string;
  instances: ReportInstanceView[];
  /** True when the group has more instances than listed (the CSV has them all). */
  instancesTruncated: boolean;
};

type GroupAccumulator = Omit<FailureGroupView, 'recommendedAction' | 'instancesTruncated'> & {
  outcomeKinds: Record<string, number>;
};

function reportInstanceView(row: ReportInstanceRow): ReportInstanceView {
  return {
    instanceId: row.instanceId,
    state: row.state,
    lastRequestId: row.lastRequestId,
    attempts: row.attemptCount,
    lastError:
      row.lastErrorCode !== null || row.lastErrorMessage !== null
        ? {
            code: row.lastErrorCode,
            message: row.lastErrorMessage,
            httpStatus: row.lastHttpStatus,
            outcome: row.lastOutcome,
          }
        : null,
    manualInstallReason: row.manualInstallReason,
    verification: row.verification,
    agentStatus: row.agentStatus,
    manualInstallFlag: row.flagId === null ? null : { id: row.flagId.toString(), status: row.flagStatus ?? 'open' },
    finishedAt: row.finishedAt?.toISOString() ?? null,
  };
}

function mostFrequent(counts: Record<string, number>): string | null {
  let best: string | null = null;
  for (const [key, n] of Object.entries(counts)) if (best === null || n > counts[best]!) best = key;
  return best;
}

/** What to do about one failed instance: the manual-install reason's instruction, else the client's for the outcome kind. */
export function recommendedActionFor(reason: string | null, outcomeKind: string | null): string {
  return (
    manualInstallAction(reason) ??
    (outcomeKind ? RECOMMENDED_ACTIONS.get(outcomeKind as CallOutcomeKind) : undefined) ??
    'Read the error and the RequestId, then install the agent by hand or retry these instances.'
  );
}

export function causeOf(row: ReportInstanceRow): FailureCause {
  return failureCauseOf(row);
}

/** Groups rows by cause, page by page. */
export function createFailureGrouper(options: { instancesPerGroup: number }) {
  const groups = new Map<string, GroupAccumulator>();
  let total = 0;
  return {
    add(rows: readonly ReportInstanceRow[]): void {
      for (const row of rows) {
        total++;
        let cause = causeOf(row);
        if (!groups.has(cause.cause) && groups.size >= MAX_GROUPS) {
          cause = { ...cause, normalisedMessage: '(other messages)', cause: `${cause.errorCode}: (other messages)` };
        }
        let group = groups.get(cause.cause);
        if (!group) {
          group = {
            cause: cause.cause,
            kind: cause.kind,
            errorCode: cause.errorCode,
            normalisedMessage: cause.normalisedMessage,
            sampleMessage: cause.kind === 'install_failed' ? row.lastErrorMessage : null,
            count: 0,
            manualInstallReasons: {},
            outcomeKinds: {},
            instances: [],
          };
          groups.set(cause.cause, group);
        }
        group.count++;
        if (row.manualInstallReason)
          group.manualInstallReasons[row.manualInstallReason] =
            (group.manualInstallReasons[row.manualInstallReason] ?? 0) + 1;
        if (row.lastOutcome) group.outcomeKinds[row.lastOutcome] = (group.outcomeKinds[row.lastOutcome] ?? 0) + 1;
        if (group.instances.length < options.instancesPerGroup) group.instances.push(reportInstanceView(row));
      }
    },
    /** Groups, largest first. */
    result(): { total: number; groups: FailureGroupView[] } {
      const views = [...groups.values()]
        // Largest first; ties: failed installs before failed verifications, then by cause (stable across calls).
        .sort(
          (a, b) =>
            b.count - a.count ||
            (a.kind === b.kind ? 0 : a.kind === 'install_failed' ? -1 : 1) ||
            (a.cause < b.cause ? -1 : a.cause > b.cause ? 1 : 0),
        )
        .map(({ outcomeKinds, ...group }) => ({
          ...group,
          recommendedAction: recommendedActionFor(
            mostFrequent(group.manualInstallReasons),
            group.kind === 'install_failed' ? mostFrequent(outcomeKinds) : null,
          ),
          instancesTruncated: group.count > group.instances.length,
        }));
      return { total, groups: views };
    },
  };
}

/** CSV columns, one row per instance. */
const CSV_COLUMNS = [
  'rollout_id',
  'instance_id',
  'state',
  'cause',
  'error_code',
  'error_message',
  'http_status',
  'last_request_id',
  'attempts',
  'manual_install_reason',
  'verification',
  'agent_status',
  'flag_status',
  'recommended_action',
  'finished_at',
] as const;

/**
 * One CSV cell (RFC 4180): quoted when it holds a comma, quote or line break, quotes doubled. A cell starting with
 * `=`, `+`, `-`, `@`, tab or carriage return is prefixed with `'` so a spreadsheet shows it as text instead of
 * running it as a formula (CSV injection: error messages come from a remote API).
 */
function csvCell(value: string | number | null | undefined): string {
  if (value === null || value === undefined) return '';
  let text = String(value);
  if (/^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

function csvRow(rolloutId: string, row: ReportInstanceRow): string {
  const failed = row.state === 'failed' || row.verification === 'failed';
  const cause = failed ? causeOf(row).cause : '';
  const cells = [
    rolloutId,
    row.instanceId,
    row.state,
    cause,
    row.lastErrorCode,
    row.lastErrorMessage,
    row.lastHttpStatus,
    row.lastRequestId,
    row.attemptCount,
    row.manualInstallReason,
    row.verification,
    row.agentStatus,
    row.flagStatus,
    failed ? recommendedActionFor(row.manualInstallReason, row.state === 'failed' ? row.lastOutcome : null) : '',
    row.finishedAt?.toISOString() ?? null,
  ];
  return `${cells.map(csvCell).join(',')}\r\n`;
}

/**
 * Streams pages of rows as CSV, honouring backpressure: a page is written only after the socket drained the
 * previous one, so memory holds one page whatever the size. Stops early (and stops reading Postgres) when the
 * client goes away.
 */
export async function streamCsv(
  res: Response,
  rolloutId: string,
  pages: AsyncGenerator<ReportInstanceRow[], void, void>,
): Promise<void> {
  let closed = false;
  res.once('close', () => {
    closed = true;
  });
  const write = async (chunk: string) => {
    if (res.write(chunk) || closed) return;
    await new Promise<void>((resolve) => {
      const done = () => {
        res.off('drain', done);
        res.off('close', done);
        resolve();
      };
      res.on('drain', done);
      res.on('close', done);
    });
  };
  try {
    await write(`${CSV_COLUMNS.join(',')}\r\n`);
    for await (const page of pages) {
      if (closed) break;
      let chunk = '';
      for (const row of page) chunk += csvRow(rolloutId, row);
      await write(chunk);
    }
  } finally {
    await pages.return();
  }
  if (!closed) res.end();
}
