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
      expect(worker.bullmq.opts).toMatchObject({
        prefix,
        lockDuration: 1500,
        stalledInterval: 1500,
        maxStalledCount: 1000,
      });
      // Without a listener, an 'error' event (Redis gone, a bad script) would be thrown and crash the process.
      expect(worker.bullmq.listenerCount('error')).toBeGreaterThan(0);
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

  it('starts each job as soon as it is fetched, up to its concurrency, and again when its queue refills', async () => {
    const rolloutId = '66666666-6666-4666-8666-666666666666';
    const queue = openInstallQueue(producer, rolloutId, prefix, logger);
    const jobs = 30;
    let fetched = 0;
    let started = 0;
    let running = 0;
    let mostRunning = 0;
    /** At each start: the jobs the worker had fetched and not yet started, this one included. */
    const fetchedNotStarted: number[] = [];
    let release: () => void = () => undefined;
    let gate = new Promise<void>((resolve) => (release = resolve));
    const worker = createInstallWorker({
      connection,
      prefix,
      rolloutId,
      concurrency: jobs,
      lockDurationMs: 10_000,
      logger,
      async processor() {
        fetchedNotStarted.push(fetched - started);
        started++;
        running++;
        mostRunning = Math.max(mostRunning, running);
        await gate;
        running--;
      },
    });
    worker.bullmq.on('active', () => fetched++);
    try {
      for (const round of ['a', 'b']) {
        // Every job is in the queue before the worker looks (it has run dry in between rounds).
        await enqueueInstallJobs(queue, { rolloutId, concurrency: jobs, instances: instances(jobs, round) });
        await waitFor(`round ${round}: every job running`, () => running === jobs, { timeoutMs: 10_000 });
        release();
        await waitFor(`round ${round}: every job done`, () => running === 0);
        gate = new Promise<void>((resolve) => (release = resolve));
      }
      // BullMQ alone fetched all 30 before it started the second: 29 fetched and waiting at that start.
      expect(Math.max(...fetchedNotStarted)).toBeLessThanOrEqual(1);
      expect(fetchedNotStarted).toHaveLength(2 * jobs);
      expect(mostRunning).toBe(jobs);
      expect(worker.concurrency).toBe(jobs);
    } finally {
      release();
      await worker.close();
      await queue.obliterate({ force: true });
      await queue.close();
    }
  });

  it('keeps fetching as jobs finish when two workers share the rollout’s concurrency and one waits for a slot', async () => {
    // Each worker may run 4 and the rollout 4 in all, so one of them finds the rollout full and waits for the queue
    // (BullMQ's drain wait, 5 s): a worker whose finishing jobs stopped fetching the next while it waits would leave
    // its slots idle for that long each time. 120 jobs of 10 ms, 4 at a time, are about 0.3 s of work.
    const rolloutId = '77777777-7777-4777-8777-777777777777';
    const queue = openInstallQueue(producer, rolloutId, prefix, logger);
    await enqueueInstallJobs(queue, { rolloutId, concurrency: 4, instances: instances(120, 'k') });
    let done = 0;
    const workers = [1, 2].map(() =>
      createInstallWorker({
        connection,
        prefix,
        rolloutId,
        concurrency: 4,
        lockDurationMs: 10_000,
        logger,
        async processor() {
          await new Promise((resolve) => setTimeout(resolve, 10));
          done++;
        },
      }),
    );
    try {
      // Well within one drain wait: a single stall would take 5 s.
      await waitFor('every job to have run', () => done === 120, { timeoutMs: 4000 });
    } finally {
      await Promise.all(workers.map((worker) => worker.close()));
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
