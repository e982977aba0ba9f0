import type { FailureReport, Rollout } from '@fleet/api-client';
import { FLEET_EXIT } from '../exit-codes.ts';
import type { FleetExitCode } from '../exit-codes.ts';

/** How a watch ended, and the exit code each way means (docs/cli.md). */
export type WatchOutcome = 'completed' | 'completed_with_failures' | 'paused' | 'aborted' | 'cancelled' | 'timeout';

export function outcomeOf(rollout: Rollout, sawAbort: boolean): WatchOutcome | undefined {
  switch (rollout.status) {
    case 'completed':
      return rollout.counts.failed > 0 ? 'completed_with_failures' : 'completed';
    case 'cancelled':
      return sawAbort || /abort/i.test(rollout.statusReason ?? '') ? 'aborted' : 'cancelled';
    case 'paused':
      return 'paused';
    // Scheduled or waiting: a schedule holds it, and the watch goes on until it runs and ends.
    case 'running':
    case 'scheduled':
    case 'waiting_for_window':
      return undefined;
  }
}

export function exitCodeOf(outcome: WatchOutcome): FleetExitCode {
  switch (outcome) {
    case 'completed':
      return FLEET_EXIT.ok;
    case 'completed_with_failures':
      return FLEET_EXIT.completedWithFailures;
    case 'paused':
    case 'aborted':
    case 'cancelled':
      return FLEET_EXIT.stopped;
    case 'timeout':
      return FLEET_EXIT.timeout;
  }
}

export type Recap = {
  rolloutId: string;
  outcome: WatchOutcome;
  status: string;
  statusReason: string | null;
  counts: Rollout['counts'];
  failureCauses: { cause: string; count: number; recommendedAction: string }[];
  next: string[];
};

/** Ansible-style: the counts, each failure cause with its count and what to do, and the commands to go on with. */
export function buildRecap(rollout: Rollout, outcome: WatchOutcome, report: FailureReport | undefined): Recap {
  const id = rollout.id;
  const next: string[] = [];
  if (rollout.counts.failed > 0)
    next.push(`fleet rollout instances ${id} --state failed`, `fleet rollout report ${id}`);
  if (outcome === 'paused') next.push(`fleet rollout resume ${id}`);
  if (outcome === 'timeout') next.push(`fleet rollout watch ${id}`);
  if (rollout.counts.failed > 0 && (rollout.status === 'completed' || rollout.status === 'cancelled'))
    next.push(`fleet rollout retry ${id}`);
  return {
    rolloutId: id,
    outcome,
    status: rollout.status,
    statusReason: rollout.statusReason,
    counts: rollout.counts,
    failureCauses: (report?.failures.groups ?? []).map((g) => ({
      cause: g.cause,
      count: g.count,
      recommendedAction: g.recommendedAction,
    })),
    next,
  };
}

const HEADLINES: Record<WatchOutcome, string> = {
  completed: 'completed',
  completed_with_failures: 'completed with failures',
  paused: 'paused',
  aborted: 'aborted',
  cancelled: 'cancelled',
  timeout: 'still running: --timeout reached (the rollout goes on)',
};

export function recapLines(recap: Recap): string[] {
  const c = recap.counts;
  const reason = recap.statusReason && recap.outcome !== 'timeout' ? ` (${recap.statusReason})` : '';
  const lines = [
    '',
    `RECAP rollout ${recap.rolloutId}: ${HEADLINES[recap.outcome]}${reason}`,
    `  total=${c.total}  succeeded=${c.succeeded}  failed=${c.failed}  cancelled=${c.cancelled}  pending=${c.pending}  in_progress=${c.in_progress}` +
      (c.skipped ? `  skipped=${c.skipped}` : ''),
  ];
  if (recap.failureCauses.length > 0) {
    lines.push('  failure causes:');
    for (const cause of recap.failureCauses) {
      lines.push(`    ${String(cause.count).padStart(6)}  ${cause.cause}`);
      lines.push(`            action: ${cause.recommendedAction}`);
    }
  }
  for (const command of recap.next) lines.push(`  next: ${command}`);
  return lines;
}
