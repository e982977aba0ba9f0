/**
 * Acceptance: network partitions. The worker process reaches Postgres, Redis and CloudMonitor through TCP proxies of
 * this test (startPartitionProxy); the reconciler reaches them directly. (With a second worker reaching them
 * directly, that one took nearly every job on a quiet machine and the partition cut no work.) In the middle of a rollout
 * one of the first worker's links is black-holed for 20 s (nothing crosses, nothing is closed), then healed. Each
 * link in turn, each with a rollout of its own:
 * - Postgres: the partitioned worker's calls in flight end but their answers cannot be written until it heals;
 * - Redis: its job locks lapse and the jobs are handed out again, finding in Postgres what was done;
 * - CloudMonitor: its calls in flight time out, not knowing whether they arrived.
 * Every time the rollout completes, every call the simulator counted is one attempt row (no call made twice that the
 * product believes it made once, none unrecorded; cut from CloudMonitor, an attempt that timed out is a row whose call
 * may not have arrived), no instance is final twice or installed twice, and the rollout's concurrency holds.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { instanceIds, uniquePrefix, waitFor } from '@fleet/testing';
import { startProxiedWorkerDeployment } from './fault-deployment.ts';
import type { ProxiedWorkerDeployment, WorkerLink } from './fault-deployment.ts';
import { expectEveryCallOneAttemptRow, USER_ID } from './support.ts';

const SEED = 'partition-seed';
const FAILURE_RATE = 0.05;
const INSTANCES = 400;
const CONCURRENCY = 20;
const PARTITION_MS = 20_000;
const CALL_TIMEOUT_MS = 4000;

let deployment: ProxiedWorkerDeployment<WorkerLink>;

beforeAll(async () => {
  // Up before the first rollout, so the partition cuts calls of its own.
  deployment = await startProxiedWorkerDeployment({
    label: 'partition',
    prefix: uniquePrefix('partition'),
    seed: SEED,
    failureRate: FAILURE_RATE,
    simulatorLatencyMs: 60,
    callTimeoutMs: CALL_TIMEOUT_MS,
    workerId: 'partitioned-worker',
    proxied: ['postgres', 'redis', 'cloudmonitor'],
    env: { WORKER_CONCURRENCY: String(CONCURRENCY), LOCK_DURATION_MS: '5000' },
  });
}, 90_000);

afterAll(async () => {
  await deployment?.close();
});

describe('a worker partitioned from one of its dependencies for 20 s mid-rollout', () => {
  it.each([
    ['postgres', 'i-ppg'],
    ['redis', 'i-prd'],
    ['cloudmonitor', 'i-pcm'],
  ] as const)(
    '%s: the rollout completes; every call is an attempt row; nothing final or installed twice; concurrency held',
    async (link, idPrefix) => {
      const { db, simulator, processes } = deployment;
      const ids = instanceIds(INSTANCES, idPrefix);
      const { rolloutId } = await deployment.createRollout(ids, {
        concurrency: CONCURRENCY,
        maxAttempts: 4,
        force: false,
      });
      // One stats() a poll: it copies every instance's counts, and this process is also the simulator's.
      const callsOf = () => {
        const calls = simulator.sim.stats().callsByInstance;
        return ids.reduce((sum, id) => sum + (calls[id] ?? 0), 0);
      };
      // Wait until the partitioned worker has calls of this rollout in flight, so the partition cuts real work.
      await waitFor(
        'the partitioned worker making calls',
        async () =>
          callsOf() >= CONCURRENCY &&
          (await db.prisma.installAttempt.count({
            where: { rolloutId, workerId: 'partitioned-worker', finishedAt: null },
          })) > 0,
        { timeoutMs: 60_000, intervalMs: 25 },
      );
      deployment.proxies[link].partition();
      await new Promise((resolve) => setTimeout(resolve, PARTITION_MS));
      deployment.proxies[link].heal();

      await deployment.waitForCompleted(rolloutId, 120_000);
      // Cut from CloudMonitor, calls time out not knowing whether their request arrived: those attempts are rows
      // whose call may or may not have been made, and the product never counts them as made.
      await expectEveryCallOneAttemptRow(
        db,
        simulator,
        rolloutId,
        { seed: SEED, failureRate: FAILURE_RATE, instances: INSTANCES },
        link === 'cloudmonitor' ? 'allowed' : 'none',
      );
      expect(simulator.sim.stats().maxInFlightByUserId[USER_ID]).toBeLessThanOrEqual(CONCURRENCY);
      for (const p of processes) expect(p.child.exitCode, p.output().slice(-2000)).toBeNull();
      const byWorker = await db.prisma.installAttempt.groupBy({ by: ['workerId'], where: { rolloutId }, _count: true });
      process.stdout.write(
        `partition acceptance (${link}): attempts by worker ${JSON.stringify(Object.fromEntries(byWorker.map((w) => [w.workerId, w._count])))}\n`,
      );
    },
    240_000,
  );

  it('no process logged the AccessKey secret, and each stops on SIGTERM with exit code 0', async () => {
    await deployment.expectCleanStop();
  });
});
