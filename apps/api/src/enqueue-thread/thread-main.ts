/**
 * The enqueue thread's entry (see enqueue-thread.ts): its own Postgres pool and Redis connection, the enqueues the
 * API asks for in their turns (enqueue-turns.ts). Building 100,000 jobs is seconds of CPU; here it runs beside the API's
 * event loop instead of on it.
 */
import { parentPort, workerData } from 'node:worker_threads';
import pg from 'pg';
import { iterateRolloutInstances } from '@fleet/db';
import { createLogger } from '@fleet/logger';
import { createRedisConnection, enqueueInstallJobs, openInstallQueue } from '@fleet/queue';
import { setThreadNice } from '@fleet/thread-priority';
import { ENQUEUE_PAGE, FIRST_ENQUEUE_PAGE } from '../enqueue-pages.ts';
import type { InTurn } from './enqueue-turns.ts';
import { createEnqueueTurns } from './enqueue-turns.ts';
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

/** Hands the rollout's first wave to Redis, its pages in their turn (enqueue-turns.ts). */
async function enqueue(request: EnqueueRequest, inTurn: InTurn): Promise<EnqueueAnswer> {
  const queue = openInstallQueue(redis, request.rolloutId, data.queuePrefix, logger);
  const pages = iterateRolloutInstances({ pool }, request.rolloutId, {
    waveNo: 1,
    pageSize: ENQUEUE_PAGE,
    firstPageSize: FIRST_ENQUEUE_PAGE,
  });
  try {
    const handed = await enqueueInstallJobs(queue, {
      rolloutId: request.rolloutId,
      concurrency: request.concurrency,
      instances: inTurn(pages),
    });
    return { taskId: request.taskId, ok: true, handed };
  } catch (error) {
    return { taskId: request.taskId, ok: false, error: error instanceof Error ? error.message : String(error) };
  } finally {
    await queue.close().catch(() => undefined);
  }
}

/** Enqueues that may send their first pages at once, and that may go on past them side by side. */
const turns = createEnqueueTurns({ firstPagesAtOnce: 32, enqueuesAtOnce: 4 });
let stopAsked = false;

function closeWhenDone(): void {
  if (stopAsked && turns.pending() === 0) void closeThread();
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
  if ('stop' in message) {
    stopAsked = true;
    closeWhenDone();
    return;
  }
  void turns
    .run((inTurn) => enqueue(message, inTurn))
    .then((answer) => port.postMessage(answer))
    .catch((error: unknown) => logger.error('enqueue failed', { rolloutId: message.rolloutId, error }))
    .finally(closeWhenDone);
});
port.postMessage({ ready: true });
