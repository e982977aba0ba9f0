/**
 * The enqueue thread's entry (see enqueue-thread.ts): its own Postgres pool and Redis connection, a few enqueues at
 * a time as the API asks (ENQUEUES_AT_ONCE). Building 100,000 jobs is seconds of CPU; here it runs beside the API's
 * event loop instead of on it.
 */
import { parentPort, workerData } from 'node:worker_threads';
import pg from 'pg';
import { iterateRolloutInstances } from '@fleet/db';
import { createLogger } from '@fleet/logger';
import { createRedisConnection, enqueueInstallJobs, openInstallQueue } from '@fleet/queue';
import { setThreadNice } from '@fleet/thread-priority';
import { ENQUEUE_PAGE, FIRST_ENQUEUE_PAGE } from '../enqueue-pages.ts';
import type { EnqueueAnswer, EnqueueRequest, EnqueueThreadData } from './thread-messages.ts';

/**
 * The nice value this thread runs at, at least (Linux: a nice value is a thread's own, see @fleet/thread-priority).
 * Handing a large rollout's jobs to Redis is bulk work that may take a second or two longer; the event loop answering
 * pollers, and the workers on the same machine, should not wait for it: measured on two cores, the slowest reads of
 * the reads bench all fell in the second or two of a 20,000-instance enqueue.
 */
const ENQUEUE_THREAD_NICE = 10;

const data = workerData as EnqueueThreadData;
const port = parentPort!;
const logger = createLogger({ service: 'api', ...data.log }).child({ thread: 'enqueue' });
const pool = new pg.Pool({ connectionString: data.databaseUrl, max: 2, application_name: 'fleet-api:enqueue' });
pool.on('error', (error) => logger.warn('postgres pool error', { error: error.message }));
const redis = createRedisConnection(data.redisTarget, 'producer', logger);
const priority = setThreadNice(ENQUEUE_THREAD_NICE, { lowerOnly: true });
logger.debug('enqueue thread started', { nice: priority.nice, refusal: priority.refusal });

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

/**
 * Enqueues run side by side, up to ENQUEUES_AT_ONCE, the rest waiting in the order they were asked for. One at a time,
 * a 10-instance rollout posted while a 20,000-instance one was being handed over waited the whole second or two of it,
 * so its POST spent all of ENQUEUE_WAIT_MS and answered `enqueued: false` (the reads bench's creates: 1.4 s, five at a
 * time). Side by side, each waits only for Redis and Postgres between its own pages and chunks, and a small rollout's
 * few jobs go in between a large one's. Bounded, so that the thread holds at most that many pages of rows at once.
 */
const ENQUEUES_AT_ONCE = 4;
const waiting: EnqueueRequest[] = [];
const running = new Set<Promise<void>>();
let stopAsked = false;

function startWaiting(): void {
  while (running.size < ENQUEUES_AT_ONCE && waiting.length > 0) {
    const request = waiting.shift()!;
    const task = enqueue(request).then((answer) => port.postMessage(answer));
    running.add(task);
    void task.finally(() => {
      running.delete(task);
      startWaiting();
    });
  }
  if (stopAsked && running.size === 0 && waiting.length === 0) void closeThread();
}

let closed: Promise<void> | null = null;
function closeThread(): Promise<void> {
  closed ??= (async () => {
    await Promise.allSettled([pool.end(), redis.quit()]);
    port.close();
  })();
  return closed;
}

// A stop lets every enqueue asked for before it finish, then closes the thread's connections.
port.on('message', (message: EnqueueRequest | { stop: true }) => {
  if ('stop' in message) stopAsked = true;
  else waiting.push(message);
  startWaiting();
});
port.postMessage({ ready: true });
