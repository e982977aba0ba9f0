import type { RedisClient } from '@fleet/queue';
import type { Database } from '@fleet/db';
import { readMetricsSnapshot } from '@fleet/db';
import type { ReconcilerSnapshot } from '@fleet/metrics';
import { countInstallJobs } from '@fleet/queue';
import type { ReconcileReport } from './reconcile-report.ts';

/**
 * The repairs of one pass by kind, as `fleet_reconciler_repairs_total{kind}` counts them: each is something Redis or
 * a dead worker had left wrong and the pass put right. Flags and verification are the reconciler's ordinary work,
 * shown by `fleet_manual_install_flags`, not repairs.
 */
export function repairsOf(report: ReconcileReport): Record<string, number> {
  return {
    enqueued_rollout: report.enqueuedRollouts,
    completed_rollout: report.completedRollouts,
    advanced_wave: report.advancedWaves,
    closed_orphan: report.closedOrphans,
    removed_closed_rollout_job: report.removedClosedRolloutJobs,
    restored_concurrency: report.queue.concurrencyRestored,
    restored_pause_state: report.queue.pauseStateRestored,
    requeued_pending: report.queue.requeuedPending,
    requeued_stale: report.queue.requeuedStale,
    requeued_failed_job: report.queue.requeuedFailedJobs,
    removed_final_job: report.queue.removedFinalJobs,
  };
}

/** What the reconciler's gauges show now: Postgres's aggregates, and the open rollouts' jobs in Redis. */
export async function readReconcilerSnapshot(deps: {
  db: Database;
  redis: RedisClient;
  prefix: string;
}): Promise<ReconcilerSnapshot> {
  const rows = await readMetricsSnapshot(deps.db);
  const openRolloutIds = [...new Set(rows.openRolloutInstances.map((r) => r.rolloutId))];
  return { ...rows, queueJobs: await countInstallJobs(deps.redis, deps.prefix, openRolloutIds) };
}
