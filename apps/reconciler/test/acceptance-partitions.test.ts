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
import { createDatabase } from '@fleet/db';
import type { Database } from '@fleet/db';
import {
  createTestDatabase,
  deleteKeysWithPrefix,
  instanceIds,
  startPartitionProxy,
  testRedisUrl,
  uniquePrefix,
  waitFor,
} from '@fleet/testing';
import type { PartitionProxy, TestDatabase } from '@fleet/testing';
import type { AppProcess } from './support.ts';
import {
  ACCESS_KEY_SECRET,
  appEnv,
  createEnqueuedRollout,
  expectEveryCallOneAttemptRow,
  spawnApp,
  startSimulator,
} from './support.ts';
import { createRedisConnection } from '@fleet/queue';
import { capturingLogger } from '@fleet/testing';
import type { Redis } from 'ioredis';

const SEED = 'partition-seed';
const FAILURE_RATE = 0.05;
const INSTANCES = 400;
const CONCURRENCY = 20;
const PARTITION_MS = 20_000;
const CALL_TIMEOUT_MS = 4000;

const { logger } = capturingLogger({ service: 'partition-test', secrets: [ACCESS_KEY_SECRET] });
let testDb: TestDatabase;
let db: Database;
let redis: Redis;
let simulator: Awaited<ReturnType<typeof startSimulator>>;
const proxies: Record<'postgres' | 'redis' | 'cloudmonitor', PartitionProxy> = {} as never;
const processes: AppProcess[] = [];
const prefix = uniquePrefix('partition');

beforeAll(async () => {
  testDb = await createTestDatabase();
  db = createDatabase({ url: testDb.url, poolMax: 5 });
  redis = createRedisConnection(testRedisUrl(), 'control', logger);
  simulator = await startSimulator({ seed: SEED, failureRate: FAILURE_RATE, latencyMs: 60, installDurationMs: 100 });
  const pgUrl = new URL(testDb.url);
  const redisUrl = new URL(testRedisUrl());
  const simUrl = new URL(simulator.url);
  proxies.postgres = await startPartitionProxy({ host: pgUrl.hostname, port: Number(pgUrl.port || 5432) });
  proxies.redis = await startPartitionProxy({ host: redisUrl.hostname, port: Number(redisUrl.port || 6379) });
  proxies.cloudmonitor = await startPartitionProxy({ host: simUrl.hostname, port: Number(simUrl.port) });
  const direct = appEnv(
    {
      databaseUrl: testDb.url,
      redisUrl: testRedisUrl(),
      prefix,
      simulatorUrl: simulator.url,
      callTimeoutMs: CALL_TIMEOUT_MS,
    },
    {
      WORKER_CONCURRENCY: String(CONCURRENCY),
      LOCK_DURATION_MS: '5000',
      RECONCILE_INTERVAL_MS: '500',
      RECONCILE_STALE_ATTEMPT_MS: String(CALL_TIMEOUT_MS + 5000),
      RECONCILER_ID: 'partition-reconciler',
      // `worker started` is an info line: beforeAll waits for it.
      LOG_LEVEL: 'info',
    },
  );
  const viaProxies = {
    ...direct,
    DATABASE_URL: Object.assign(new URL(testDb.url), { port: String(proxies.postgres.port) }).toString(),
    REDIS_URL: `redis://127.0.0.1:${proxies.redis.port}`,
    CMS_ENDPOINT: `http://127.0.0.1:${proxies.cloudmonitor.port}/`,
  };
  processes.push(
    spawnApp('worker', { ...viaProxies, WORKER_ID: 'partitioned-worker' }),
    spawnApp('reconciler', direct),
  );
  // Up before the first rollout, so the partition cuts calls of its own.
  await waitFor('the worker started', () => processes[0]!.output().includes('worker started'), {
    timeoutMs: 60_000,
    intervalMs: 100,
  });
}, 90_000);

afterAll(async () => {
  await Promise.all(processes.map((p) => p.kill()));
  await Promise.all(Object.values(proxies).map((p) => p.close()));
  await deleteKeysWithPrefix(prefix);
  await redis?.quit().catch(() => undefined);
  await simulator?.close();
  await db?.close();
  await testDb?.drop();
});

describe('a worker partitioned from one of its dependencies for 20 s mid-rollout', () => {
  it.each([
    ['postgres', 'i-ppg'],
    ['redis', 'i-prd'],
    ['cloudmonitor', 'i-pcm'],
  ] as const)(
    '%s: the rollout completes; every call is an attempt row; nothing final or installed twice; concurrency held',
    async (link, idPrefix) => {
      const ids = instanceIds(INSTANCES, idPrefix);
      const { rolloutId } = await createEnqueuedRollout(db, redis, prefix, logger, ids, {
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
      proxies[link].partition();
      await new Promise((resolve) => setTimeout(resolve, PARTITION_MS));
      proxies[link].heal();

      await waitFor(
        'the rollout completed',
        async () => (await db.prisma.rollout.findUniqueOrThrow({ where: { id: rolloutId } })).status === 'completed',
        { timeoutMs: 120_000, intervalMs: 250 },
      );
      // Cut from CloudMonitor, calls time out not knowing whether their request arrived: those attempts are rows
      // whose call may or may not have been made, and the product never counts them as made.
      await expectEveryCallOneAttemptRow(
        db,
        simulator,
        rolloutId,
        { seed: SEED, failureRate: FAILURE_RATE, instances: INSTANCES },
        link === 'cloudmonitor' ? 'allowed' : 'none',
      );
      expect(simulator.sim.stats().maxInFlightByUserId['1234567898765432']).toBeLessThanOrEqual(CONCURRENCY);
      for (const p of processes) expect(p.child.exitCode, p.output().slice(-2000)).toBeNull();
      const byWorker = await db.prisma.installAttempt.groupBy({ by: ['workerId'], where: { rolloutId }, _count: true });
      process.stdout.write(
        `partition acceptance (${link}): attempts by worker ${JSON.stringify(Object.fromEntries(byWorker.map((w) => [w.workerId, w._count])))}\n`,
      );
    },
    240_000,
  );

  it('no process logged the AccessKey secret, and each stops on SIGTERM with exit code 0', async () => {
    for (const p of processes) expect(p.output()).not.toContain(ACCESS_KEY_SECRET);
    expect(await Promise.all(processes.map((p) => p.stop('SIGTERM')))).toEqual([0, 0]);
  });
});
