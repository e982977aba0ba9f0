import type { VerificationReport } from './install-verifier.ts';
import { emptyVerificationReport } from './install-verifier.ts';
import type { QueueRepairReport } from './queue-repairs.ts';
import { emptyQueueRepairReport } from './queue-repairs.ts';

/** What one reconciler pass did (Reconciler.runOnce), counted per kind of repair. */
export type ReconcileReport = {
  leader: boolean;
  /** Rollouts whose unfinished enqueue was driven. */
  enqueuedRollouts: number;
  /** Rollouts completed because every instance was final. */
  completedRollouts: number;
  /** Rollouts stuck between waves (the current wave finished, the next never started) moved on. */
  advancedWaves: number;
  /** Manual-install flags raised for failed installs (hosts that had no flag that is not closed). */
  flagsRaised: number;
  /**
   * Failed installs whose host's flag, raised in an earlier rollout (a retry's parent), was kept: the failure added to
   * its history, a resolved flag reopened. Flags are per host, not per rollout.
   */
  flagsCarried: number;
  /** Leftover jobs of closed rollouts removed. */
  removedClosedRolloutJobs: number;
  /** in_progress instances of cancelled rollouts whose worker died, closed through the claim (no worker runs them). */
  closedOrphans: number;
  /** Per-second finish counts deleted for being older than `finishSecondRetentionMs`. */
  prunedFinishSeconds: number;
  /** Idempotency-Key records deleted for being older than `idempotencyRetentionMs`. */
  prunedIdempotencyRecords: number;
  /** Rollouts whose attempt rows were replaced by their summary (attemptRetentionDays). */
  summarisedRollouts: number;
  /** Rollouts the schedule moved or bounded anew (started, waiting for a window, ended, a new window's end). */
  scheduleMoves: number;
  queue: QueueRepairReport;
  verification: VerificationReport;
  /** Set when the pass stopped early (the lease was lost). */
  abandoned?: string;
};

export function emptyReport(): ReconcileReport {
  return {
    leader: false,
    enqueuedRollouts: 0,
    completedRollouts: 0,
    advancedWaves: 0,
    flagsRaised: 0,
    flagsCarried: 0,
    removedClosedRolloutJobs: 0,
    closedOrphans: 0,
    prunedFinishSeconds: 0,
    prunedIdempotencyRecords: 0,
    summarisedRollouts: 0,
    scheduleMoves: 0,
    queue: emptyQueueRepairReport(),
    verification: emptyVerificationReport(),
  };
}

export function addQueueReport(total: QueueRepairReport, part: QueueRepairReport): void {
  for (const key of Object.keys(total) as (keyof QueueRepairReport)[]) total[key] += part[key];
}
