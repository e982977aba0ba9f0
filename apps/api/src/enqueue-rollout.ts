import type { RedisClient } from '@fleet/queue';
import type { Database, RolloutRecord } from '@fleet/db';
import { iterateRolloutInstances, markRolloutEnqueued } from '@fleet/db';
import type { Logger } from '@fleet/logger';
import { enqueueInstallJobs, openInstallQueue } from '@fleet/queue';

/**
 * Instance rows read back per page when a new rollout's first wave is enqueued. The API holds about one page (and
 * the few addBulk chunks on their way) at a time, whatever the rollout's size.
 */
const ENQUEUE_PAGE = 5_000;
/**
 * The first page is small: its jobs reach Redis, and the workers, before the next pages are read (reading 5,000 rows
 * first took 20 to 50 ms on the 2-core reference machine, 250 about 5 ms).
 */
const FIRST_ENQUEUE_PAGE = 250;

/**
 * Hands a newly recorded rollout's first wave to Redis (a rollout without waves is all wave 1); later waves wait in
 * Postgres until their gate opens. The rows are read back a page at a time as the queue takes them, so the API never
 * holds every row of a large rollout. Never rejects: false when the enqueue did not finish, and the rollout then
 * stays `enqueuedAt: null` for the reconciler to finish.
 */
export async function enqueueNewRollout(
  deps: { db: Database; redis: RedisClient; queuePrefix: string },
  rollout: RolloutRecord,
  log: Logger,
): Promise<boolean> {
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
