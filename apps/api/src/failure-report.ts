import type { Response } from 'express';
import { RECOMMENDED_ACTIONS } from '@fleet/cms-client';
import type { CallOutcomeKind } from '@fleet/cms-client';
import type { FailureCauseCount, ReportInstanceRow } from '@fleet/db';
import type { FailureKind } from '@fleet/rollout-domain';
import { manualInstallAction } from '@fleet/rollout-domain';

/**
 * The failure report of a rollout: failed instances (and succeeded installs whose agent never came up) grouped by
 * cause, each group with what an operator should do. Built from the counts the database keeps per cause
 * (listFailureCauseCounts) and the first instances of each cause (listFailureCauseInstances), so its cost does not
 * grow with the number of failures; the CSV streams every instance page by page (streamCsv).
 */

/** Distinct causes shown; beyond it (messages normalisation could not tame) the rarest fold into their error code. */
const MAX_GROUPS = 500;

type ReportInstanceView = {
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

/** The causes that get groups of their own: the MAX_GROUPS largest (ties by cause); the others fold (foldedCause). */
function foldedCause(cause: string): string {
  const colon = cause.indexOf(': ');
  return `${colon < 0 ? cause : cause.slice(0, colon)}: (other messages)`;
}

type GroupCounts = {
  cause: string;
  kind: FailureKind;
  count: number;
  sampleMessage: string | null;
  manualInstallReasons: Record<string, number>;
  outcomeKinds: Record<string, number>;
};

const byCount = (a: GroupCounts, b: GroupCounts) =>
  // Largest first; ties: failed installs before failed verifications, then by cause (stable across calls).
  b.count - a.count ||
  (a.kind === b.kind ? 0 : a.kind === 'install_failed' ? -1 : 1) ||
  (a.cause < b.cause ? -1 : a.cause > b.cause ? 1 : 0);

function addCounts(groups: Map<string, GroupCounts>, cause: string, row: GroupCounts): void {
  let group = groups.get(cause);
  if (!group) {
    group = { ...row, cause, count: 0, manualInstallReasons: {}, outcomeKinds: {} };
    groups.set(cause, group);
  }
  group.count += row.count;
  group.sampleMessage ??= row.sampleMessage;
  for (const [reason, n] of Object.entries(row.manualInstallReasons))
    group.manualInstallReasons[reason] = (group.manualInstallReasons[reason] ?? 0) + n;
  for (const [outcome, n] of Object.entries(row.outcomeKinds))
    group.outcomeKinds[outcome] = (group.outcomeKinds[outcome] ?? 0) + n;
}

/**
 * The groups of the report from the maintained counts, largest first: the causes to list instances of (at most
 * MAX_GROUPS), and a function that makes the groups' views once those instances are read.
 */
export function planFailureGroups(counts: readonly FailureCauseCount[]): {
  total: number;
  listedCauses: string[];
  groups(instances: readonly ReportInstanceRow[], instancesPerGroup: number): FailureGroupView[];
} {
  const byCause = new Map<string, GroupCounts>();
  let total = 0;
  for (const row of counts) {
    total += row.count;
    addCounts(byCause, row.cause, {
      cause: row.cause,
      kind: row.kind,
      count: row.count,
      sampleMessage: row.sampleMessage,
      manualInstallReasons: row.manualInstallReason ? { [row.manualInstallReason]: row.count } : {},
      outcomeKinds: row.lastOutcome ? { [row.lastOutcome]: row.count } : {},
    });
  }
  const ranked = [...byCause.values()].sort(byCount);
  const kept = ranked.slice(0, MAX_GROUPS);
  const folded = new Map<string, GroupCounts>();
  for (const group of ranked.slice(MAX_GROUPS)) addCounts(folded, foldedCause(group.cause), group);
  const all = [...kept, ...[...folded.values()].sort(byCount)];
  return {
    total,
    listedCauses: kept.map((g) => g.cause),
    groups(instances, instancesPerGroup) {
      const listed = new Map<string, ReportInstanceView[]>();
      for (const row of instances) {
        if (row.cause === null) continue;
        const views = listed.get(row.cause) ?? [];
        if (views.length < instancesPerGroup) views.push(reportInstanceView(row));
        listed.set(row.cause, views);
      }
      return all.map((group) => {
        const colon = group.cause.indexOf(': ');
        const views = listed.get(group.cause) ?? [];
        return {
          cause: group.cause,
          kind: group.kind,
          errorCode: colon < 0 ? group.cause : group.cause.slice(0, colon),
          normalisedMessage: colon < 0 ? '' : group.cause.slice(colon + 2),
          sampleMessage: group.sampleMessage,
          count: group.count,
          manualInstallReasons: group.manualInstallReasons,
          recommendedAction: recommendedActionFor(
            mostFrequent(group.manualInstallReasons),
            group.kind === 'install_failed' ? mostFrequent(group.outcomeKinds) : null,
          ),
          instances: views,
          instancesTruncated: group.count > views.length,
        };
      });
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
  const failed = row.cause !== null;
  const cause = row.cause ?? '';
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
