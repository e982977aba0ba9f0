/**
 * Acceptance: Redis loses everything in the middle of a 1,000-instance rollout run by two real worker processes:
 * flushed (FLUSHALL, the connections stay), or killed and started again with nothing on disk (every connection
 * drops and comes back to an empty Redis). The reconciler puts back what Redis lost from Postgres; the rollout
 * completes, every instance is final exactly once, none is lost, every call the simulator counted is one attempt row,
 * and the global cap (below the per-rollout concurrency) holds throughout: the slots of the calls in flight are
 * rebuilt from Postgres before a new call is admitted. Runs on a private redis-server: a FLUSHALL on the shared one
 * would wipe other tests.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isFailingInstance } from '@fleet/cms-simulator';
import { createDatabase } from '@fleet/db';
import type { Database } from '@fleet/db';
import { createRedisConnection, reconcilerLeaderKey } from '@fleet/queue';
import { capturingLogger, createTestDatabase, instanceIds, uniquePrefix, waitFor } from '@fleet/testing';
import type { TestDatabase } from '@fleet/testing';
import { createLeaderLease } from '../src/leader-lease.ts';
import { createReconciler } from '../src/reconciler.ts';
import type { AppProcess, PrivateRedis } from './support.ts';
import {
  ACCESS_KEY_SECRET,
  appEnv,
  createEnqueuedRollout,
  spawnApp,
  startPrivateRedis,
  startSimulator,
} from './support.ts';

const SEED = 'flushall-seed';
const FAILURE_RATE = 0.05;
const INSTANCES = 1000;
const CONCURRENCY = 50;
/** Below the rollout's concurrency, so the global cap is what binds: its count of calls in flight is what Redis loses. */
const GLOBAL_CAP = 40;
const CALL_TIMEOUT_MS = 2000;

const { logger, lines } = capturingLogger({ service: 'flushall-test', secrets: [ACCESS_KEY_SECRET] });
let privateRedis: PrivateRedis;
let testDb: TestDatabase;
let db: Database;
let redis: Redis;
let simulator: Awaited<ReturnType<typeof startSimulator>>;
const workers: AppProcess[] = [];
const prefix = uniquePrefix('flush');

beforeAll(async () => {
  [privateRedis, testDb] = await Promise.all([startPrivateRedis(), createTestDatabase()]);
  db = createDatabase({ url: testDb.url, poolMax: 5 });
  redis = createRedisConnection(privateRedis.url, 'control', logger);
  simulator = await startSimulator({ seed: SEED, failureRate: FAILURE_RATE, latencyMs: 300, installDurationMs: 100 });
  const env = appEnv(
    {
      databaseUrl: testDb.url,
      redisUrl: privateRedis.url,
      prefix,
      simulatorUrl: simulator.url,
      callTimeoutMs: CALL_TIMEOUT_MS,
    },
    {
      LOCK_DURATION_MS: '2000',
      WORKER_CONCURRENCY: String(CONCURRENCY),
      GLOBAL_CONCURRENCY: String(GLOBAL_CAP),
      DB_POOL_MAX: '20',
    },
  );
  workers.push(
    spawnApp('worker', { ...env, WORKER_ID: 'flush-w1' }),
    spawnApp('worker', { ...env, WORKER_ID: 'flush-w2' }),
  );
}, 60_000);

afterAll(async () => {
  await Promise.all(workers.map((w) => w.kill()));
  await redis?.quit().catch(() => undefined);
  await simulator?.close();
  await db?.close();
  await testDb?.drop();
  await privateRedis?.stop();
});

describe('Redis emptied in the middle of a rollout', () => {
  it.each([
    ['FLUSHALL', 'i-fl'],
    ['a restart without persistence', 'i-rs'],
  ])(
    '%s: the 1,000-instance rollout completes, every instance final exactly once, none lost, calls = attempt rows, global cap held',
    async (fault, idPrefix) => {
      const reconciler = createReconciler({
        db,
        redis,
        prefix,
        logger,
        cms: simulator.cms,
        lease: createLeaderLease(redis, { key: reconcilerLeaderKey(prefix), holder: 'flush-reconciler', ttlMs: 5000 }),
        intervalMs: 250,
        enqueueGraceMs: 5000,
        staleAttemptMs: CALL_TIMEOUT_MS + 5000,
        verifyWindowMs: 60_000,
      });
      reconciler.start();
      try {
        const ids = instanceIds(INSTANCES, idPrefix);
        const { rolloutId } = await createEnqueuedRollout(db, redis, prefix, logger, ids, {
          concurrency: CONCURRENCY,
          maxAttempts: 4,
        });

        const finished = () =>
          db.prisma.rolloutInstance.count({ where: { rolloutId, state: { in: ['succeeded', 'failed'] } } });
        await waitFor('a quarter of the rollout done', async () => (await finished()) >= INSTANCES / 4, {
          timeoutMs: 40_000,
          intervalMs: 20,
        });
        const flushedAt = await finished();
        const rebuilds = () =>
          [lines.join(''), ...workers.map((w) => w.output())].join('').split("rebuilt the global cap's slots").length -
          1;
        const rebuildsBefore = rebuilds();
        if (fault === 'FLUSHALL') expect(await redis.flushall()).toBe('OK');
        else await privateRedis.restart();
        logger.info(`test: ${fault} done`, { finishedBefore: flushedAt });
        expect(flushedAt).toBeLessThan(INSTANCES * 0.75);

        await waitFor(
          'the rollout completed',
          async () => (await db.prisma.rollout.findUniqueOrThrow({ where: { id: rolloutId } })).status === 'completed',
          { timeoutMs: 50_000, intervalMs: 200 },
        );

        const instances = await db.prisma.rolloutInstance.findMany({
          where: { rolloutId },
          include: { attempts: { orderBy: { attemptNo: 'asc' } } },
        });
        expect(instances).toHaveLength(INSTANCES);
        const calls = simulator.sim.stats().callsByInstance;
        const expectedFailed = new Set(ids.filter((id) => isFailingInstance(SEED, id, FAILURE_RATE)));
        for (const instance of instances) {
          // Final, and final once: one terminal answer, and it is the last attempt.
          expect(['succeeded', 'failed']).toContain(instance.state);
          const terminal = instance.attempts.filter((a) => a.outcome === 'success' || a.outcome === 'final');
          expect(terminal).toHaveLength(1);
          expect(instance.attempts.at(-1)!.id).toBe(terminal[0]!.id);
          expect(instance.state).toBe(terminal[0]!.outcome === 'success' ? 'succeeded' : 'failed');
          expect(instance.state === 'failed').toBe(expectedFailed.has(instance.instanceId));
          // Every call the simulator counted is exactly one attempt row (no worker died here).
          expect(instance.attempts).toHaveLength(instance.attemptCount);
          expect(calls[instance.instanceId] ?? 0).toBe(instance.attemptCount);
          expect(instance.lastRequestId).toBe(terminal[0]!.requestId);
        }
        // The global cap (and with it the rollout's limit above it) held, also right after Redis forgot the calls in
        // flight, the queue's concurrency and its active jobs: the slots were rebuilt from Postgres before any new call.
        expect(simulator.sim.stats().maxInFlightByUserId['1234567898765432']).toBeLessThanOrEqual(GLOBAL_CAP);
        expect(rebuilds()).toBeGreaterThan(rebuildsBefore);
        // The reconciler is what brought the rollout back.
        expect(lines.some((l) => l.includes('restored the queue concurrency') && l.includes(rolloutId))).toBe(true);
        expect(
          lines.some((l) => l.includes('re-enqueued pending instances whose job was missing') && l.includes(rolloutId)),
        ).toBe(true);
      } finally {
        await reconciler.stop();
        if (process.env.ACCEPTANCE_LOG_DIR) {
          const { writeFileSync } = await import('node:fs');
          writeFileSync(`${process.env.ACCEPTANCE_LOG_DIR}/${idPrefix}-reconciler.log`, lines.join(''));
          workers.forEach((w, i) =>
            writeFileSync(`${process.env.ACCEPTANCE_LOG_DIR}/${idPrefix}-worker-${i + 1}.log`, w.output()),
          );
        }
      }
    },
  );
});
