/**
 * The enqueue thread's entry (see enqueue-thread.ts): its own Postgres pool and Redis connection, one enqueue at a
 * time as the API asks. Building 100,000 jobs is seconds of CPU; here it runs beside the API's event loop instead of
 * on it.
 */
import { parentPort, workerData } from 'node:worker_threads';
import pg from 'pg';
import { iterateRolloutInstances } from '@fleet/db';
import { createLogger } from '@fleet/logger';
import { createRedisConnection, enqueueInstallJobs, openInstallQueue } from '@fleet/queue';
import { ENQUEUE_PAGE, FIRST_ENQUEUE_PAGE } from '../enqueue-pages.ts';
import type { EnqueueAnswer, EnqueueRequest, EnqueueThreadData } from './thread-messages.ts';

const data = workerData as EnqueueThreadData;
const port = parentPort!;
const logger = createLogger({ service: 'api', ...data.log }).child({ thread: 'enqueue' });
const pool = new pg.Pool({ connectionString: data.databaseUrl, max: 2, application_name: 'fleet-api:enqueue' });
pool.on('error', (error) => logger.warn('postgres pool error', { error: error.message }));
const redis = createRedisConnection(data.redisTarget, 'producer', logger);

async function enqueue(request: EnqueueRequest): Promise<EnqueueAnswer> {
  const queue = openInstallQueue(redis, request.rolloutId, data.queuePrefix, logger);
  try {
    const firstWave = iterateRolloutInstances({ pool }, request.rolloutId, {
      waveNo: 1,
      pageSize: ENQUEUE_PAGE,
      firstPageSize: FIRST_ENQUEUE_PAGE,
    });
    const handed = await enqueueInstallJobs(queue, {
      rolloutId: request.rolloutId,
      concurrency: request.concurrency,
      instances: firstWave,
    });
    return { taskId: request.taskId, ok: true, handed };
  } catch (error) {
    return { taskId: request.taskId, ok: false, error: error instanceof Error ? error.message : String(error) };
  } finally {
    await queue.close().catch(() => undefined);
  }
}

// One at a time, in order: the API's enqueues never ran in parallel with each other's CPU anyway.
let tail: Promise<void> = Promise.resolve();
port.on('message', (message: EnqueueRequest | { stop: true }) => {
  if ('stop' in message) {
    tail = tail.then(async () => {
      await Promise.allSettled([pool.end(), redis.quit()]);
      port.close();
    });
    return;
  }
  tail = tail.then(async () => port.postMessage(await enqueue(message)));
});
port.postMessage({ ready: true });
