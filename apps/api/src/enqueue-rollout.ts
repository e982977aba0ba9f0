import type { RedisClient } from '@fleet/queue';
import type { Database, RolloutRecord } from '@fleet/db';
import { iterateRolloutInstances, markRolloutEnqueued } from '@fleet/db';
import type { Logger } from '@fleet/logger';
import { enqueueInstallJobs, openInstallQueue } from '@fleet/queue';
import { ENQUEUE_PAGE, FIRST_ENQUEUE_PAGE } from './enqueue-pages.ts';
import type { EnqueueThread } from './enqueue-thread/enqueue-thread.ts';

/**
 * Hands a newly recorded rollout's first wave to Redis (a rollout without waves is all wave 1); later waves wait in
 * Postgres until their gate opens. The rows are read back a page at a time as the queue takes them, so the API never
 * holds every row of a large rollout. With `enqueueThread` (main.ts) that work runs in the API's enqueue thread, off
 * the event loop that answers requests; without one (tests that build the app alone), here. Never rejects: false
 * when the enqueue did not finish, and the rollout then stays `enqueuedAt: null` for the reconciler to finish.
 */
export async function enqueueNewRollout(
  deps: { db: Database; redis: RedisClient; queuePrefix: string; enqueueThread?: EnqueueThread | undefined },
  rollout: RolloutRecord,
  log: Logger,
): Promise<boolean> {
  if (deps.enqueueThread) {
    try {
      await deps.enqueueThread.enqueue(rollout.id, rollout.concurrency);
      await markRolloutEnqueued(deps.db, rollout.id);
      return true;
    } catch (error) {
      log.warn('rollout recorded but not fully enqueued; the reconciler will finish it', { error });
      return false;
    }
  }
  const queue = openInstallQueue(deps.redis, rollout.id, deps.queuePrefix, log);
  try {
    const firstWave = iterateRolloutInstances(deps.db, rollout.id, {
      waveNo: 1,
      pageSize: ENQUEUE_PAGE,
      firstPageSize: FIRST_ENQUEUE_PAGE,
    });
    await enqueueInstallJobs(queue, { rolloutId: rollout.id, concurrency: rollout.concurrency, instances: firstWave });
    await markRolloutEnqueued(deps.db, rollout.id);
    return true;
  } catch (error) {
    log.warn('rollout recorded but not fully enqueued; the reconciler will finish it', { error });
    return false;
  } finally {
    await queue.close().catch(() => undefined);
  }
}
