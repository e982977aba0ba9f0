import { DelayedError, Worker } from 'bullmq';
import type { Job } from 'bullmq';
import type { RedisClient } from './redis-connection.ts';
import type { Logger } from '@fleet/logger';
import type { InstallJobData } from './install-queue.ts';
import { installQueueName } from './names.ts';

/** One install job as a processor receives it. */
export type InstallJob = Job<InstallJobData>;

/** Runs one install job; `token` is the job's lock token, which delayInstallJob needs. */
/**
 * Runs one job. `signal` is aborted when the worker lets its jobs go (RolloutWorkerPool: shutdown, the rollout's
 * worker closing); BullMQ passes it only to a processor that declares the third parameter.
 */
export type InstallJobProcessor = (job: InstallJob, token?: string, signal?: AbortSignal) => Promise<unknown>;

/** What runs one rollout's install jobs in this process; `concurrency` may be changed while it runs. */
export type InstallWorker = Worker<InstallJobData>;

export type InstallWorkerOptions = {
  /** Worker-role connection (`maxRetriesPerRequest: null`); BullMQ duplicates it for its blocking reads. */
  connection: RedisClient;
  /** The deployment's key prefix (QUEUE_PREFIX). */
  prefix: string;
  rolloutId: string;
  processor: InstallJobProcessor;
  /** Jobs of this rollout this process runs at once; at least 1. */
  concurrency: number;
  /**
   * How long an active job's lock lasts without renewal, in ms. A job whose worker died is picked up again by another
   * worker within about this plus STALLED_CHECK_MAX_MS.
   */
  lockDurationMs: number;
  /** Gets the worker's errors and failed jobs, as warnings. */
  logger: Logger;
};

/**
 * Jobs a stalled job may go through before BullMQ fails it. BullMQ's default fails a job after one stall; ours are
 * safe to run again (the claim in Postgres decides whether a call is made), so a job whose worker was killed is
 * always run again rather than failed: high enough never to be reached by restarts, finite so that a job that kills
 * every worker it lands on does end.
 */
const MAX_STALLED_COUNT = 1000;

/**
 * Longest time between two looks for stalled jobs, in ms. A job is stalled when its lock is gone, which happens only
 * after lockDuration without renewal, so looking more often never takes a live job; it makes a lock that vanished
 * early count sooner: after a Redis failover the new master may lack the locks of the jobs taken in the old one's
 * last moments, and those jobs, still active there, hold the rollout's concurrency until they are found stalled.
 * Looking every lockDuration (30 s) paused a rollout for 30-40 s after a Sentinel failover.
 */
const STALLED_CHECK_MAX_MS = 5000;

/**
 * A BullMQ Worker on one rollout's install queue (installQueueName), with the product's lock and stall settings and
 * a listener on its errors (without one, an error event of an EventEmitter would crash the process).
 */
export function createInstallWorker(options: InstallWorkerOptions): InstallWorker {
  const worker = new Worker<InstallJobData>(installQueueName(options.rolloutId), options.processor, {
    connection: options.connection,
    prefix: options.prefix,
    concurrency: Math.max(1, options.concurrency),
    lockDuration: options.lockDurationMs,
    stalledInterval: Math.min(options.lockDurationMs, STALLED_CHECK_MAX_MS),
    maxStalledCount: MAX_STALLED_COUNT,
    autorun: true,
  });
  worker.on('error', (error) => options.logger.warn('install worker error', { error: error.message }));
  worker.on('failed', (job, error) =>
    options.logger.warn('install job failed', {
      jobId: job?.id,
      error: error.message,
      attemptsMade: job?.attemptsMade,
    }),
  );
  return worker;
}

/**
 * Puts a running job back in its queue's delayed set for `delayMs` (at least 1 ms), freeing its concurrency slot,
 * and ends the processor: the returned promise always rejects with BullMQ's DelayedError, which tells the Worker
 * the job was moved rather than failed. It is not one of the job's attempts.
 *
 * The delay is a duration on purpose: BullMQ takes a timestamp and turns it back into a delay with its own
 * `Date.now()`, so the timestamp is made here on that same clock, whatever clock the caller reasons with.
 */
export async function delayInstallJob(job: InstallJob, token: string | undefined, delayMs: number): Promise<never> {
  await job.moveToDelayed(Date.now() + Math.max(1, Math.round(delayMs)), token);
  throw new DelayedError();
}
