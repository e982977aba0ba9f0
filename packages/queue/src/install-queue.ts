import { Queue } from 'bullmq';
import { Cluster, Redis } from 'ioredis';
import type { Logger } from '@fleet/logger';
import type { RedisClient } from './redis-connection.ts';
import { installJobId, installQueueName, rolloutWorkChannel } from './names.ts';

/**
 * What an install job carries. Only identifiers: the policy and state live in Postgres and are read when the job
 * runs, and no credential ever travels through Redis.
 */
export type InstallJobData = {
  rolloutId: string;
  /** rollout_instance.id, as a decimal string (BigInt does not survive JSON). */
  rolloutInstanceId: string;
  instanceId: string;
};

/** One rollout's install queue, as openInstallQueue opens it. */
export type InstallQueue = Queue<InstallJobData>;

/** BullMQ key prefix for everything this product keeps in Redis. */
export const DEFAULT_QUEUE_PREFIX = 'fleet';

/**
 * Jobs per addBulk call (one pipeline of BullMQ's add script). Round trips are overlapped (ADD_BULK_IN_FLIGHT), so
 * a chunk need not be large to amortise them; it is kept small because everything BullMQ and ioredis build for a
 * chunk lives until Redis has answered the whole of it, long enough to reach V8's old generation, where it stays
 * until the next full collection. Measured on the 2-core reference machine, 100,000 jobs from the API: chunks of
 * 1,000 with 2 in flight grew its peak RSS by about 190 MiB, chunks of 250 with 3 by about 150 MiB, in the same
 * time (some 2.5 s, bound by BullMQ's and Redis's CPU per job).
 */
const ADD_BULK_CHUNK = 250;

/**
 * addBulk calls in flight at once. While Redis runs one chunk's scripts this process builds and sends the next, so
 * both sides work at the same time; memory stays that of a few chunks whatever the total.
 */
const ADD_BULK_IN_FLIGHT = 3;

/** An instance to enqueue: its rollout_instance row id and its ECS instance id. */
export type InstallJobInstance = { id: bigint; instanceId: string };

export function openInstallQueue(
  connection: RedisClient,
  rolloutId: string,
  prefix: string,
  logger: Logger,
): Queue<InstallJobData> {
  const queue = new Queue<InstallJobData>(installQueueName(rolloutId), { connection, prefix });
  queue.on('error', (error) => logger.warn('install queue error', { rolloutId, error: error.message }));
  return queue;
}

function installJob(rolloutId: string, instance: InstallJobInstance) {
  return {
    name: 'node-install',
    data: { rolloutId, rolloutInstanceId: instance.id.toString(), instanceId: instance.instanceId },
    opts: {
      jobId: installJobId(instance.instanceId),
      // History lives in Postgres; Redis keeps only work that is still to be done.
      removeOnComplete: true,
      removeOnFail: 1000,
      // Retries of NodeInstall are decided by the worker (retry policy), which re-delays the job itself;
      // BullMQ's own attempts only cover infrastructure failures (Postgres unreachable and the like).
      attempts: 12,
      backoff: { type: 'exponential', delay: 1000 },
    },
  };
}

async function* pagesOf(
  instances: readonly InstallJobInstance[] | AsyncIterable<readonly InstallJobInstance[]>,
): AsyncGenerator<readonly InstallJobInstance[]> {
  if (Symbol.asyncIterator in instances) yield* instances;
  else yield instances;
}

/**
 * Hands instances to the rollout's queue and sets its cross-worker concurrency. `instances` is a list, or pages of
 * one read as they are needed (e.g. iterateRolloutInstances from @fleet/db): jobs are built ADD_BULK_CHUNK at a time,
 * with at most ADD_BULK_IN_FLIGHT chunks on their way, so memory does not grow with the number of instances.
 * Idempotent: a job id is the instance id, so enqueueing again while a job exists adds nothing, and the worker
 * ignores jobs whose instance is already final. Returns how many instances were handed over. On an error (Redis, or
 * a page that cannot be read) nothing more is sent, the chunks already sent are waited for, and the error is thrown;
 * what got through stays queued, and enqueueing again adds only the rest.
 * Announces the rollout on rolloutWorkChannel first, so that workers open its queue while the jobs arrive (a worker
 * that misses the message finds the rollout at its next look at Postgres).
 */
export async function enqueueInstallJobs(
  queue: Queue<InstallJobData>,
  input: {
    rolloutId: string;
    concurrency: number;
    instances: readonly InstallJobInstance[] | AsyncIterable<readonly InstallJobInstance[]>;
  },
): Promise<number> {
  await queue.setGlobalConcurrency(input.concurrency);
  // The connection the queue was opened with (openInstallQueue); a queue made otherwise announces nothing.
  const connection = queue.opts.connection;
  if (connection instanceof Redis || connection instanceof Cluster)
    await connection.publish(rolloutWorkChannel(queue.opts.prefix ?? DEFAULT_QUEUE_PREFIX), input.rolloutId);
  const inFlight: Promise<unknown>[] = [];
  let handed = 0;
  try {
    for await (const page of pagesOf(input.instances)) {
      for (let i = 0; i < page.length; i += ADD_BULK_CHUNK) {
        const chunk = page.slice(i, i + ADD_BULK_CHUNK);
        const added = queue.addBulk(chunk.map((instance) => installJob(input.rolloutId, instance)));
        // Awaited in order below; should an earlier chunk fail first, this one's failure must not surface as an
        // unhandled rejection meanwhile.
        added.catch(() => undefined);
        inFlight.push(added);
        handed += chunk.length;
        if (inFlight.length >= ADD_BULK_IN_FLIGHT) await inFlight.shift();
      }
    }
    await Promise.all(inFlight);
  } catch (error) {
    // Nothing of this call is still on its way once it has failed: the caller may close the queue at once.
    await Promise.allSettled(inFlight);
    throw error;
  }
  return handed;
}

/** Stops the rollout's queue handing out jobs, in every worker at once (BullMQ's global pause, kept in Redis). */
export async function pauseInstallQueue(queue: Queue<InstallJobData>): Promise<void> {
  await queue.pause();
}

export async function resumeInstallQueue(queue: Queue<InstallJobData>): Promise<void> {
  await queue.resume();
}

/** Removes every job not running now (waiting, paused, delayed). Running jobs finish; their instances decide. */
export async function drainInstallQueue(queue: Queue<InstallJobData>): Promise<void> {
  await queue.drain(true);
}
