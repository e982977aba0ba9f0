import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from '@fleet/logger';
import { installJobId, installQueueName } from './names.ts';

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

/** BullMQ key prefix for everything this product keeps in Redis. */
export const DEFAULT_QUEUE_PREFIX = 'fleet';

/** Jobs per addBulk call: large enough to amortise round trips, small enough not to block Redis for long. */
const ADD_BULK_CHUNK = 1000;

export function openInstallQueue(connection: Redis, rolloutId: string, prefix: string, logger: Logger): Queue<InstallJobData> {
  const queue = new Queue<InstallJobData>(installQueueName(rolloutId), { connection, prefix });
  queue.on('error', (error) => logger.warn('install queue error', { rolloutId, error: error.message }));
  return queue;
}

/**
 * Hands instances to the rollout's queue and sets its cross-worker concurrency. Idempotent: a job id is the
 * instance id, so enqueueing again while a job exists adds nothing, and the worker ignores jobs whose instance is
 * already final.
 */
export async function enqueueInstallJobs(
  queue: Queue<InstallJobData>,
  input: { rolloutId: string; concurrency: number; instances: readonly { id: bigint; instanceId: string }[] },
): Promise<void> {
  await queue.setGlobalConcurrency(input.concurrency);
  for (let i = 0; i < input.instances.length; i += ADD_BULK_CHUNK) {
    const chunk = input.instances.slice(i, i + ADD_BULK_CHUNK);
    await queue.addBulk(
      chunk.map((instance) => ({
        name: 'node-install',
        data: { rolloutId: input.rolloutId, rolloutInstanceId: instance.id.toString(), instanceId: instance.instanceId },
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
      })),
    );
  }
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
