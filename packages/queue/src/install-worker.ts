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

/** What runs one rollout's install jobs in this process. */
export type InstallWorker = {
  /** The rollout's queue (installQueueName). */
  readonly name: string;
  /**
   * Most jobs of the rollout this process runs at once; may be changed while it runs (a PATCH of the rollout). The
   * BullMQ worker underneath climbs to it one job at a time (see createInstallWorker).
   */
  concurrency: number;
  /** Aborts the signal of every running job (the processor's third parameter). */
  cancelAllJobs(reason?: string): void;
  /** Stops taking jobs and waits for the running ones; `force`: does not wait. */
  close(force?: boolean): Promise<void>;
  /** The BullMQ Worker underneath: its events and options. */
  readonly bullmq: Worker<InstallJobData>;
};

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
 *
 * It starts each job as soon as it has fetched it. BullMQ's Worker fetches jobs one Redis round trip at a time and
 * starts none of the ones it fetches until it holds `concurrency` of them (its main loop fills up first). A rollout's
 * worker at 100 on a busy process (5 to 100 ms a fetch, in the rate bench) so held its first jobs for up to 2 s
 * before any call, and 20 accounts' rollouts made 9 to 50 calls of their 51 in their first second. So the BullMQ
 * worker's concurrency starts at 1 and grows by one with each job it starts, up to `concurrency`: it fetches a job,
 * starts it, fetches the next. It goes back to 1 when no job runs, so a queue that refills after running dry (a new
 * wave, a resume) climbs the same way. Once full it is BullMQ's usual: a job that finishes fetches the next in the
 * same round trip.
 */
export function createInstallWorker(options: InstallWorkerOptions): InstallWorker {
  let target = Math.max(1, options.concurrency);
  let running = 0;
  // Three parameters: BullMQ passes the abort signal only to a processor that declares it.
  const processor: InstallJobProcessor = async (job, token, signal) => {
    running++;
    // Called as BullMQ starts the job, before its main loop looks again: it fetches one more.
    if (worker.concurrency < target) worker.concurrency += 1;
    try {
      return await options.processor(job, token, signal);
    } finally {
      running--;
      // Never lowered while jobs run: a finishing job fetches the next only while the worker's jobs (those running,
      // and a fetch waiting for the queue) are within its concurrency, and one that fetches nothing ends that chain.
      // With none running, the next jobs start one by one again (the queue refilled: a new wave, a resume).
      if (running === 0) worker.concurrency = 1;
    }
  };
  const worker = new Worker<InstallJobData>(installQueueName(options.rolloutId), processor, {
    connection: options.connection,
    prefix: options.prefix,
    concurrency: 1,
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
  return {
    name: worker.name,
    get concurrency() {
      return target;
    },
    set concurrency(value: number) {
      target = Math.max(1, value);
      if (worker.concurrency > target) worker.concurrency = target;
    },
    cancelAllJobs: (reason) => worker.cancelAllJobs(reason),
    close: (force) => worker.close(force),
    bullmq: worker,
  };
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
