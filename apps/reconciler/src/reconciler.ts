import type { Redis } from 'ioredis';
import type { Database } from '@fleet/db';
import { completeRolloutIfDone, listOpenInstanceIds, listRolloutsByStatus, markRolloutEnqueued } from '@fleet/db';
import type { Logger } from '@fleet/logger';
import { enqueueInstallJobs, openInstallQueue } from '@fleet/queue';
import type { LeaderLease } from './leader-lease.ts';

export type ReconcilerDeps = {
  db: Database;
  redis: Redis;
  prefix: string;
  logger: Logger;
  lease: LeaderLease;
  intervalMs: number;
  enqueueGraceMs: number;
  now?: () => Date;
};

export type ReconcileReport = { leader: boolean; enqueuedRollouts: number; completedRollouts: number };

export type Reconciler = {
  start(): void;
  /** Ends the loop after the pass in progress and gives up the lease. Idempotent. */
  stop(): Promise<void>;
  runOnce(): Promise<ReconcileReport>;
};

/**
 * Keeps Redis and Postgres honest. Repairs so far:
 * - a rollout whose enqueue never finished (API crashed, Redis failed mid-way) gets its open instances enqueued;
 * - a rollout whose every instance is final but whose status is not gets completed.
 */
export function createReconciler(deps: ReconcilerDeps): Reconciler {
  const now = deps.now ?? (() => new Date());
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<unknown> | null = null;
  let stopped = false;

  async function enqueueUnfinished(rolloutId: string, concurrency: number): Promise<number> {
    const queue = openInstallQueue(deps.redis, rolloutId, deps.prefix, deps.logger);
    let total = 0;
    try {
      let after: bigint | undefined;
      for (;;) {
        const page = await listOpenInstanceIds(deps.db, rolloutId, { limit: 5000, ...(after !== undefined ? { after } : {}) });
        if (page.length === 0) break;
        await enqueueInstallJobs(queue, { rolloutId, concurrency, instances: page });
        total += page.length;
        after = page[page.length - 1]!.id;
      }
      await markRolloutEnqueued(deps.db, rolloutId);
    } finally {
      await queue.close();
    }
    return total;
  }

  async function pass(): Promise<ReconcileReport> {
    const report: ReconcileReport = { leader: false, enqueuedRollouts: 0, completedRollouts: 0 };
    if (!(await deps.lease.acquireOrRenew())) return report;
    report.leader = true;
    const open = await listRolloutsByStatus(deps.db, ['running', 'paused']);
    for (const rollout of open) {
      if (rollout.enqueuedAt === null && now().getTime() - rollout.createdAt.getTime() >= deps.enqueueGraceMs) {
        const count = await enqueueUnfinished(rollout.id, rollout.concurrency);
        deps.logger.warn('repaired: enqueued a rollout whose enqueue had not finished', { rolloutId: rollout.id, instances: count });
        report.enqueuedRollouts++;
      }
      if (await completeRolloutIfDone(deps.db, rollout.id)) {
        deps.logger.warn('repaired: completed a rollout whose instances were all final', { rolloutId: rollout.id });
        report.completedRollouts++;
      }
    }
    return report;
  }

  function runOnce(): Promise<ReconcileReport> {
    const current = pass();
    running = current.catch(() => undefined);
    return current;
  }

  function loop(): void {
    if (stopped) return;
    timer = setTimeout(async () => {
      try {
        await runOnce();
      } catch (error) {
        deps.logger.warn('reconcile pass failed; will retry', { error });
      }
      loop();
    }, deps.intervalMs);
  }

  return {
    start() {
      stopped = false;
      loop();
    },
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
      await deps.lease.release().catch(() => undefined);
    },
    runOnce,
  };
}
