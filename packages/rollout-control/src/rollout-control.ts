import type { RedisClient } from '@fleet/queue';
import type { Database, RolloutRecord, RolloutTransitionResult } from '@fleet/db';
import {
  advanceWaveIfDone,
  completeRolloutIfDone,
  countInstances,
  iterateRolloutInstances,
  transitionRollout,
  updateRolloutPolicy,
} from '@fleet/db';
import type { Logger } from '@fleet/logger';
import {
  drainInstallQueue,
  enqueueInstallJobs,
  openInstallQueue,
  pauseInstallQueue,
  resumeInstallQueue,
} from '@fleet/queue';
import type { EventSource, PauseCause, RolloutPolicy } from '@fleet/rollout-domain';
import { resolveCount, shouldAbort } from '@fleet/rollout-domain';
import { readPolicy } from './policy-view.ts';

/** Instances read from Postgres per page while a wave's jobs are enqueued. */
const WAVE_ENQUEUE_PAGE = 5000;

/**
 * Operations on a whole rollout, shared by the API (operator actions), the worker (waves, abort, fleet-wide
 * pause) and the reconciler. Postgres decides (guarded transitions); Redis is then told, so a lost Redis write
 * never leaves a wrong decision: workers re-check the rollout's status in Postgres before every call.
 */
export type RolloutControlDeps = {
  db: Database;
  redis: RedisClient;
  prefix: string;
  logger: Logger;
  /**
   * Who the changes are made by, named in their events: the worker or reconciler process, or (the API builds one per
   * request) the API key and the request id.
   */
  by: EventSource;
};

async function withQueue<T>(
  deps: RolloutControlDeps,
  rolloutId: string,
  fn: (queue: ReturnType<typeof openInstallQueue>) => Promise<T>,
): Promise<T> {
  const queue = openInstallQueue(deps.redis, rolloutId, deps.prefix, deps.logger);
  try {
    return await fn(queue);
  } finally {
    await queue.close().catch(() => undefined);
  }
}

/**
 * Tells Redis about a rollout transition; a failure is logged, not thrown (Postgres already holds the truth). A
 * connection that is not ready is not waited for: BullMQ would wait for it as long as it takes to come back, and
 * the operator's pause or cancel (already decided) would hang with it. What Redis missed, the reconciler puts
 * right (it pauses or resumes a queue to match the rollout's status, and removes the jobs of closed rollouts).
 */
async function tellQueue(
  deps: RolloutControlDeps,
  rolloutId: string,
  what: string,
  fn: (queue: ReturnType<typeof openInstallQueue>) => Promise<void>,
): Promise<void> {
  try {
    if (deps.redis.status !== 'ready') throw new Error(`the Redis connection is ${deps.redis.status}`);
    await withQueue(deps, rolloutId, fn);
  } catch (error) {
    deps.logger.warn(`could not ${what} in Redis; workers still obey the status in Postgres`, { rolloutId, error });
  }
}

/** What a schedule's end writes with the pause or cancel it applies: the end, once, and no window bounds. */
const SCHEDULE_ENDED = { callsUntil: null, nextWindowAt: null, ended: true } as const;

/**
 * `cause`: why, for rollout.paused (default an operator's pause). `scheduleEnded`: the pause is the schedule's end
 * behaviour (applied once).
 */
export async function pauseRollout(
  deps: RolloutControlDeps,
  rolloutId: string,
  reason: string,
  cause: PauseCause = { kind: 'operator' },
  options: { scheduleEnded?: boolean } = {},
): Promise<RolloutTransitionResult> {
  const result = await transitionRollout(
    deps.db,
    rolloutId,
    { type: 'pause', reason },
    { by: deps.by, pauseCause: cause, ...(options.scheduleEnded ? { schedule: SCHEDULE_ENDED } : {}) },
  );
  if (result.kind === 'changed' || result.kind === 'unchanged')
    await tellQueue(deps, rolloutId, 'pause the queue', pauseInstallQueue);
  if (result.kind === 'changed') deps.logger.warn('rollout paused', { rolloutId, reason });
  return result;
}

/** `reason`: the operator's, if given: the rollout's statusReason and rollout.resumed's `reason`. */
export async function resumeRollout(
  deps: RolloutControlDeps,
  rolloutId: string,
  reason: string | null = null,
): Promise<RolloutTransitionResult> {
  const result = await transitionRollout(deps.db, rolloutId, { type: 'resume', reason }, { by: deps.by });
  if (result.kind !== 'changed' && result.kind !== 'unchanged') return result;
  await tellQueue(deps, rolloutId, 'resume the queue', resumeInstallQueue);
  if (result.kind === 'changed') {
    deps.logger.info('rollout resumed', { rolloutId });
    // A pause at a wave gate is the operator's decision point: resuming promotes the next wave.
    await advanceWaves(deps, result.rollout, { approved: true });
  }
  return result;
}

/**
 * `aborted`: the rollout's own abort threshold cancels it (rollout.aborted rather than rollout.cancelled).
 * `scheduleEnded`: the cancel is the schedule's end behaviour.
 */
export async function cancelRollout(
  deps: RolloutControlDeps,
  rolloutId: string,
  reason: string,
  options: { aborted?: boolean; scheduleEnded?: boolean } = {},
): Promise<RolloutTransitionResult> {
  const result = await transitionRollout(
    deps.db,
    rolloutId,
    { type: 'cancel', reason },
    { by: deps.by, aborted: options.aborted ?? false, ...(options.scheduleEnded ? { schedule: SCHEDULE_ENDED } : {}) },
  );
  if (result.kind === 'changed' || result.kind === 'unchanged')
    await tellQueue(deps, rolloutId, 'drain the queue', drainInstallQueue);
  if (result.kind === 'changed') deps.logger.warn('rollout cancelled', { rolloutId, reason });
  return result;
}

/** Applies a new policy to an open rollout: Postgres first, then the queue's cross-worker concurrency. */
export async function changeRolloutPolicy(
  deps: RolloutControlDeps,
  rollout: RolloutRecord,
  policy: RolloutPolicy,
): Promise<RolloutRecord | null> {
  const concurrency = resolveCount(policy.concurrency, rollout.totalInstances);
  const updated = await updateRolloutPolicy(
    deps.db,
    rollout.id,
    { policy: policy as never, concurrency, maxAttempts: policy.retry.maxAttempts },
    deps.by,
  );
  if (!updated) return null;
  await tellQueue(deps, rollout.id, 'set the queue concurrency', async (queue) => {
    await queue.setGlobalConcurrency(concurrency);
  });
  deps.logger.info('rollout policy changed', { rolloutId: rollout.id, concurrency });
  // A looser threshold may let a finished wave through now.
  await advanceWaves(deps, updated, { approved: false });
  return updated;
}

/**
 * Starts the next wave(s) while the current one is finished and passes its gate; enqueues their instances.
 * Returns the wave now running, or null if the rollout stopped (paused at a gate, or not running).
 */
export async function advanceWaves(
  deps: RolloutControlDeps,
  rollout: Pick<RolloutRecord, 'id' | 'policy' | 'concurrency'>,
  options: { approved: boolean },
): Promise<void> {
  const policy = readPolicy(rollout.policy);
  let approved = options.approved;
  for (;;) {
    const step = await advanceWaveIfDone(deps.db, rollout.id, {
      thresholdPercent: policy.waveSuccessThresholdPercent,
      approved,
      by: deps.by,
    });
    approved = false;
    if (step.kind === 'advanced') {
      // Pages read from Postgres as they are enqueued: a wave of any size is never held whole in memory.
      const pages = iterateRolloutInstances(deps.db, rollout.id, {
        pageSize: WAVE_ENQUEUE_PAGE,
        waveNo: step.wave,
        pendingOnly: true,
      });
      const enqueued = await withQueue(deps, rollout.id, (queue) =>
        enqueueInstallJobs(queue, { rolloutId: rollout.id, concurrency: rollout.concurrency, instances: pages }),
      );
      deps.logger.info('wave started', { rolloutId: rollout.id, wave: step.wave, instances: enqueued });
      if (enqueued > 0) return;
      continue; // an empty wave (all its instances ended otherwise): look at the next one
    }
    if (step.kind === 'paused') {
      await tellQueue(deps, rollout.id, 'pause the queue', pauseInstallQueue);
      deps.logger.warn('rollout paused at a wave gate', { rolloutId: rollout.id, reason: step.reason });
    }
    if (step.kind === 'last_wave_done' && (await completeRolloutIfDone(deps.db, rollout.id, deps.by)))
      deps.logger.info('rollout completed', { rolloutId: rollout.id });
    return;
  }
}

/** Cancels the rest of the rollout when failures cross its abort threshold. True if it did. */
export async function abortIfThresholdCrossed(
  deps: RolloutControlDeps,
  rollout: Pick<RolloutRecord, 'id' | 'policy'>,
): Promise<boolean> {
  const policy = readPolicy(rollout.policy);
  if (!policy.abort) return false;
  const counts = await countInstances(deps.db, rollout.id);
  const verdict = shouldAbort(policy.abort, counts);
  if (!verdict.abort) return false;
  const result = await cancelRollout(deps, rollout.id, verdict.reason, { aborted: true });
  return result.kind === 'changed';
}
