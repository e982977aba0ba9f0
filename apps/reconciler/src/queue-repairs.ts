import type { Database, OpenInstanceForRepair, RolloutRecord } from '@fleet/db';
import { findInstanceStates, findRollout, iterateOpenInstancesForRepair, markRolloutEnqueued } from '@fleet/db';
import type { Logger } from '@fleet/logger';
import type { InstallQueue, RedisClient } from '@fleet/queue';
import {
  enqueueInstallJobs,
  findMissingInstallJobs,
  openInstallQueue,
  pauseInstallQueue,
  resumeInstallQueue,
} from '@fleet/queue';
import type { InstanceState } from '@fleet/rollout-domain';
import { isFinalInstanceState } from '@fleet/rollout-domain';

/**
 * Redis-side repairs of one rollout's queue. Postgres is the record: whatever Redis lost (a FLUSHALL, a failover
 * to a replica that missed writes, a restart without persistence) is put back from it, and whatever Redis holds
 * that Postgres says is finished is taken out.
 *
 * Re-adding a job is always safe: the job id is the instance id (adding one that exists is a no-op), and the
 * worker's claim (packages/db attempts/claim-locked.ts) skips final instances and waits out, or abandons, an attempt another
 * worker may still be making. So the only care needed here is not to re-add what is still in flight: a job is only
 * re-added when its key is really missing, and an in_progress instance only once its attempt is stale.
 */
export type QueueRepairDeps = {
  db: Database;
  redis: RedisClient;
  prefix: string;
  logger: Logger;
  /** An unfinished attempt older than this (ms) belongs to a dead worker: call timeout plus a grace. */
  staleAttemptMs: number;
  now: () => Date;
};

export type QueueRepairReport = {
  concurrencyRestored: number;
  pauseStateRestored: number;
  /** Pending instances whose job was missing from Redis, re-added. */
  requeuedPending: number;
  /** in_progress instances whose worker died (stale attempt) and whose job was missing, re-added. */
  requeuedStale: number;
  /** Jobs BullMQ had failed (e.g. Postgres down through all of BullMQ's attempts) while the instance was open. */
  requeuedFailedJobs: number;
  /** Jobs left in Redis for instances that are already final. */
  removedFinalJobs: number;
  /**
   * Pending instances not re-added this pass because calls of the rollout whose jobs Redis lost may still be in
   * flight: starting more now could exceed the rollout's concurrency (BullMQ no longer counts those calls).
   */
  deferredRequeue: number;
  /** Open instances of the waves allowed to run (0 means nothing is left to do in the current wave). */
  openRunnable: number;
};

export function emptyQueueRepairReport(): QueueRepairReport {
  return {
    concurrencyRestored: 0,
    pauseStateRestored: 0,
    requeuedPending: 0,
    requeuedStale: 0,
    requeuedFailedJobs: 0,
    removedFinalJobs: 0,
    deferredRequeue: 0,
    openRunnable: 0,
  };
}

/** Instances read from Postgres (and job keys checked in Redis) per round trip. */
const PAGE = 5000;
/** Instance ids named in one repair log line; the counts are always complete. */
const LOGGED_IDS = 20;

type RequeueDecision = 'requeue_pending' | 'requeue_stale' | 'in_flight' | 'leave';

/** What to do with an open instance whose job key is missing. */
function decideRequeue(instance: OpenInstanceForRepair, now: Date, staleAttemptMs: number): RequeueDecision {
  if (instance.state === 'pending') {
    // A retry waiting out its backoff: re-adding now would skip the backoff. Re-added once it is due.
    if (instance.nextAttemptAt && instance.nextAttemptAt.getTime() > now.getTime()) return 'leave';
    return 'requeue_pending';
  }
  const inFlight = instance.attemptStartedAt !== null && instance.attemptFinishedAt === null;
  // A live worker may still be making this call (its job was lost from under it): it will record the answer
  // itself. Only once the attempt is stale is its worker presumed dead.
  if (inFlight && now.getTime() - instance.attemptStartedAt!.getTime() < staleAttemptMs) return 'in_flight';
  return 'requeue_stale';
}

async function removeJobs(queue: InstallQueue, jobIds: readonly string[]): Promise<number> {
  let removed = 0;
  for (const jobId of jobIds) {
    // 0 when the job is locked (a worker took it meanwhile): it will find its instance final and end.
    if ((await queue.remove(jobId)) === 1) removed++;
  }
  return removed;
}

/** States in Postgres of the instances behind `jobIds` (job id = instance id), looked up a page at a time. */
async function instanceStatesOf(
  db: Database,
  rolloutId: string,
  jobIds: readonly string[],
): Promise<Map<string, { id: bigint; state: InstanceState }>> {
  const states = new Map<string, { id: bigint; state: InstanceState }>();
  for (let i = 0; i < jobIds.length; i += PAGE) {
    for (const [instanceId, value] of await findInstanceStates(db, rolloutId, jobIds.slice(i, i + PAGE)))
      states.set(instanceId, value);
  }
  return states;
}

/** True when the job's instance is final (or gone): the job can only be a no-op. */
function isJobOfFinalInstance(states: Map<string, { state: InstanceState }>, jobId: string): boolean {
  const instance = states.get(jobId);
  return !instance || isFinalInstanceState(instance.state);
}

/**
 * Every repair of an open (running or paused) rollout whose jobs were handed to Redis:
 * - the queue's global concurrency (the cross-worker limit, lost with Redis) is set from Postgres;
 * - the queue's pause state follows the rollout's status;
 * - failed jobs of open instances are re-added; delayed or failed jobs of final instances are removed;
 * - open instances of runnable waves whose job key is missing are re-added (pending ones once due, in_progress
 *   ones once their attempt is stale).
 */
export async function repairOpenRolloutQueue(
  deps: QueueRepairDeps,
  rollout: RolloutRecord,
): Promise<QueueRepairReport> {
  const report = emptyQueueRepairReport();
  const log = deps.logger.child({ rolloutId: rollout.id });
  const queue = openInstallQueue(deps.redis, rollout.id, deps.prefix, log);
  try {
    // Read the rollout again right before comparing: an operator may have paused, resumed or changed its
    // concurrency since the pass began (Postgres first, then Redis); the next pass corrects a race left here.
    const fresh = await findRollout(deps.db, rollout.id);
    if (!fresh || (fresh.status !== 'running' && fresh.status !== 'paused')) return report;
    const concurrency = await queue.getGlobalConcurrency();
    if (concurrency !== fresh.concurrency) {
      await queue.setGlobalConcurrency(fresh.concurrency);
      report.concurrencyRestored++;
      log.warn('repaired: restored the queue concurrency from Postgres', {
        rolloutId: rollout.id,
        found: concurrency,
        restored: fresh.concurrency,
      });
    }
    const queuePaused = await queue.isPaused();
    if (fresh.status === 'paused' && !queuePaused) {
      await pauseInstallQueue(queue);
      report.pauseStateRestored++;
      log.warn('repaired: paused the queue of a paused rollout', { rolloutId: rollout.id });
    } else if (fresh.status === 'running' && queuePaused) {
      await resumeInstallQueue(queue);
      report.pauseStateRestored++;
      log.warn('repaired: resumed the queue of a running rollout', { rolloutId: rollout.id });
    }

    const now = deps.now();
    const toRequeue: { id: bigint; instanceId: string }[] = [];
    const requeued = {
      pending: [] as string[],
      stale: [] as { instanceId: string; attemptNo: number; startedAt: string | null; workerId: string | null }[],
      failedJobs: [] as string[],
    };

    // Jobs BullMQ gave up on, and delayed jobs of instances that ended meanwhile. Both sets are small: waiting
    // jobs of final instances are not looked for here, a worker takes them soon and they end as no-ops.
    const failedIds = await queue.getRanges(['failed'], 0, -1);
    const delayedIds = await queue.getRanges(['delayed'], 0, -1);
    const states = await instanceStatesOf(deps.db, rollout.id, [...failedIds, ...delayedIds]);
    const finalJobIds = delayedIds.filter((jobId) => isJobOfFinalInstance(states, jobId));
    for (const jobId of failedIds) {
      const instance = states.get(jobId);
      if (!instance || isFinalInstanceState(instance.state)) finalJobIds.push(jobId);
      else if ((await queue.remove(jobId)) === 1) {
        toRequeue.push({ id: instance.id, instanceId: jobId });
        requeued.failedJobs.push(jobId);
      }
    }
    report.removedFinalJobs += await removeJobs(queue, finalJobIds);
    if (finalJobIds.length > 0)
      log.info('repaired: removed jobs of instances already final', {
        rolloutId: rollout.id,
        jobs: finalJobIds.length,
        instanceIds: finalJobIds.slice(0, LOGGED_IDS),
      });

    // Open instances whose job is gone from Redis.
    const alreadyRequeued = new Set(requeued.failedJobs);
    const lostPending: { id: bigint; instanceId: string }[] = [];
    let inFlightWithoutJob = 0;
    for await (const page of iterateOpenInstancesForRepair(deps.db, rollout.id, { pageSize: PAGE })) {
      report.openRunnable += page.length;
      const missing = await findMissingInstallJobs(
        deps.redis,
        deps.prefix,
        rollout.id,
        page.map((i) => i.instanceId),
      );
      for (const instance of page) {
        if (!missing.has(instance.instanceId) || alreadyRequeued.has(instance.instanceId)) continue;
        const decision = decideRequeue(instance, now, deps.staleAttemptMs);
        if (decision === 'leave') continue;
        if (decision === 'in_flight') inFlightWithoutJob++;
        else if (decision === 'requeue_pending') lostPending.push({ id: instance.id, instanceId: instance.instanceId });
        else {
          toRequeue.push({ id: instance.id, instanceId: instance.instanceId });
          requeued.stale.push({
            instanceId: instance.instanceId,
            attemptNo: instance.attemptCount,
            startedAt: instance.attemptStartedAt?.toISOString() ?? null,
            workerId: instance.attemptWorkerId,
          });
        }
      }
    }
    if (inFlightWithoutJob > 0 && lostPending.length > 0) {
      // Calls whose jobs Redis lost may still be running in live workers, and BullMQ's count of active jobs no
      // longer includes them: new jobs now could put more than `concurrency` calls in flight. They end within a
      // call timeout (or go stale, if their worker died too); the pending instances are re-added then.
      report.deferredRequeue = lostPending.length;
      log.warn('re-enqueue deferred: calls whose jobs Redis lost may still be in flight', {
        rolloutId: rollout.id,
        inFlight: inFlightWithoutJob,
        pending: lostPending.length,
      });
    } else {
      for (const instance of lostPending) {
        toRequeue.push(instance);
        requeued.pending.push(instance.instanceId);
      }
    }

    if (toRequeue.length > 0) {
      // enqueueInstallJobs also sets the global concurrency again before adding anything.
      await enqueueInstallJobs(queue, { rolloutId: rollout.id, concurrency: fresh.concurrency, instances: toRequeue });
      report.requeuedPending = requeued.pending.length;
      report.requeuedStale = requeued.stale.length;
      report.requeuedFailedJobs = requeued.failedJobs.length;
      if (requeued.pending.length > 0) {
        log.warn('repaired: re-enqueued pending instances whose job was missing from Redis', {
          rolloutId: rollout.id,
          instances: requeued.pending.length,
          instanceIds: requeued.pending.slice(0, LOGGED_IDS),
        });
      }
      if (requeued.stale.length > 0) {
        log.warn('repaired: re-enqueued in_progress instances whose worker died and whose job was missing', {
          rolloutId: rollout.id,
          instances: requeued.stale.length,
          staleAttempts: requeued.stale.slice(0, LOGGED_IDS),
        });
      }
      if (requeued.failedJobs.length > 0) {
        log.warn('repaired: re-enqueued open instances whose job BullMQ had failed', {
          rolloutId: rollout.id,
          instances: requeued.failedJobs.length,
          instanceIds: requeued.failedJobs.slice(0, LOGGED_IDS),
        });
      }
    }
    return report;
  } finally {
    await queue.close().catch(() => undefined);
  }
}

/** Jobs a closed (completed or cancelled) rollout left in Redis whose instances are final: no worker will ever run them. */
export async function sweepClosedRolloutQueue(deps: QueueRepairDeps, rolloutId: string): Promise<number> {
  const log = deps.logger.child({ rolloutId });
  const queue = openInstallQueue(deps.redis, rolloutId, deps.prefix, log);
  try {
    const jobIds = await queue.getRanges(['wait', 'delayed', 'prioritized', 'failed'], 0, -1);
    const states = await instanceStatesOf(deps.db, rolloutId, jobIds);
    const finalJobIds = jobIds.filter((jobId) => isJobOfFinalInstance(states, jobId));
    const removed = await removeJobs(queue, finalJobIds);
    if (removed > 0)
      log.info('repaired: removed jobs a closed rollout left in Redis', {
        rolloutId,
        jobs: removed,
        instanceIds: finalJobIds.slice(0, LOGGED_IDS),
      });
    return removed;
  } finally {
    await queue.close().catch(() => undefined);
  }
}

/**
 * A rollout whose enqueue never finished (the API crashed, or Redis failed after the commit): its runnable open
 * instances are enqueued and the rollout marked enqueued. Returns the number of instances handed to the queue.
 */
export async function enqueueUnfinishedRollout(deps: QueueRepairDeps, rollout: RolloutRecord): Promise<number> {
  const queue = openInstallQueue(deps.redis, rollout.id, deps.prefix, deps.logger.child({ rolloutId: rollout.id }));
  let total = 0;
  try {
    for await (const page of iterateOpenInstancesForRepair(deps.db, rollout.id, { pageSize: PAGE })) {
      await enqueueInstallJobs(queue, { rolloutId: rollout.id, concurrency: rollout.concurrency, instances: page });
      total += page.length;
    }
    await markRolloutEnqueued(deps.db, rollout.id);
  } finally {
    await queue.close().catch(() => undefined);
  }
  return total;
}
