import { UnrecoverableError } from 'bullmq';
import { afterAll, describe, expect, it } from 'vitest';
import { createLogger } from '@fleet/logger';
import { capturingLogger, deleteKeysWithPrefix, testRedisUrl, uniquePrefix, waitFor } from '@fleet/testing';
import type { InstallJob } from '../src/index.ts';
import {
  createInstallWorker,
  createRedisConnection,
  delayInstallJob,
  enqueueInstallJobs,
  installQueueName,
  openInstallQueue,
} from '../src/index.ts';

const logger = createLogger({ service: 'queue-test', silent: true });
const prefix = uniquePrefix('queue-worker');
const producer = createRedisConnection(testRedisUrl(), 'producer', logger);
const connection = createRedisConnection(testRedisUrl(), 'worker', logger);

afterAll(async () => {
  await deleteKeysWithPrefix(prefix);
  await Promise.all([producer.quit(), connection.quit()]);
});

const instances = (n: number, tag: string) =>
  Array.from({ length: n }, (_, i) => ({ id: BigInt(i + 1), instanceId: `i-${tag}${i}` }));

describe('install worker', () => {
  it("runs a rollout's jobs from its own queue, with the lock and stall settings given, and warns of a failed job", async () => {
    const rolloutId = '33333333-3333-4333-8333-333333333333';
    const queue = openInstallQueue(producer, rolloutId, prefix, logger);
    await enqueueInstallJobs(queue, { rolloutId, concurrency: 5, instances: instances(4, 'w') });
    const captured = capturingLogger({ service: 'queue-test' });
    const ran: string[] = [];
    const worker = createInstallWorker({
      connection,
      prefix,
      rolloutId,
      concurrency: 2,
      lockDurationMs: 1500,
      logger: captured.logger,
      async processor(job: InstallJob) {
        ran.push(job.data.instanceId);
        // BullMQ would retry a plain error (the job's own attempts); fail this one for good at once.
        if (job.data.instanceId === 'i-w3') throw new UnrecoverableError('boom');
      },
    });
    try {
      expect(worker.name).toBe(installQueueName(rolloutId));
      expect(worker.concurrency).toBe(2);
      expect(worker.opts).toMatchObject({ prefix, lockDuration: 1500, stalledInterval: 1500, maxStalledCount: 1000 });
      // Without a listener, an 'error' event (Redis gone, a bad script) would be thrown and crash the process.
      expect(worker.listenerCount('error')).toBeGreaterThan(0);
      await waitFor('every job to have run', () => ran.length === 4 && captured.lines.length > 0);
      expect(ran.sort()).toEqual(['i-w0', 'i-w1', 'i-w2', 'i-w3']);
      const failure = captured.entries().find((entry) => entry.message === 'install job failed');
      expect(failure).toMatchObject({ level: 'warn', jobId: 'i-w3', error: 'boom' });
    } finally {
      await worker.close();
      await queue.obliterate({ force: true });
      await queue.close();
    }
  });

  it('clamps a concurrency under 1 to 1 (BullMQ refuses 0)', async () => {
    const rolloutId = '44444444-4444-4444-8444-444444444444';
    const worker = createInstallWorker({
      connection,
      prefix,
      rolloutId,
      concurrency: 0,
      lockDurationMs: 1000,
      logger,
      processor: async () => undefined,
    });
    expect(worker.concurrency).toBe(1);
    await worker.close();
  });
});

describe('delayInstallJob', () => {
  it('puts the running job back, delayed by the given ms, neither failed nor counted as an attempt, and runs it again after', async () => {
    const rolloutId = '55555555-5555-4555-8555-555555555555';
    const queue = openInstallQueue(producer, rolloutId, prefix, logger);
    await enqueueInstallJobs(queue, { rolloutId, concurrency: 1, instances: instances(1, 'd') });
    const runs: number[] = [];
    let attemptsMadeOnSecondRun: number | undefined;
    let delayedFor: number | undefined;
    const worker = createInstallWorker({
      connection,
      prefix,
      rolloutId,
      concurrency: 1,
      lockDurationMs: 5000,
      logger,
      async processor(job, token) {
        runs.push(Date.now());
        if (runs.length === 1) {
          const delayed = delayInstallJob(job, token, 400);
          await delayed.catch(async () => {
            delayedFor = job.delay;
            expect(await queue.getJobState(job.id!)).toBe('delayed');
          });
          return delayed;
        }
        attemptsMadeOnSecondRun = job.attemptsMade;
        return 'done';
      },
    });
    try {
      await waitFor('the job to run a second time', () => runs.length === 2, { timeoutMs: 5000 });
      expect(delayedFor).toBeGreaterThan(300);
      expect(delayedFor).toBeLessThanOrEqual(400);
      expect(runs[1]! - runs[0]!).toBeGreaterThanOrEqual(350);
      expect(attemptsMadeOnSecondRun).toBe(0);
      await waitFor('the job to complete', async () => (await queue.getJobState('i-d0')) === 'unknown');
      expect(await queue.getFailedCount()).toBe(0);
    } finally {
      await worker.close();
      await queue.obliterate({ force: true });
      await queue.close();
    }
  });
});
