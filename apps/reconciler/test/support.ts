import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect } from 'vitest';
import { createCmsClient } from '@fleet/cms-client';
import type { CmsClient } from '@fleet/cms-client';
import { createSimulator, isFailingInstance } from '@fleet/cms-simulator';
import type { Scenario, Simulator } from '@fleet/cms-simulator';
import type { Database } from '@fleet/db';
import { createDatabase, insertRollout, markRolloutEnqueued } from '@fleet/db';
import type { Logger } from '@fleet/logger';
import { createRedisConnection, enqueueInstallJobs, openInstallQueue, reconcilerLeaderKey } from '@fleet/queue';
import { DEFAULT_RETRY_POLICY } from '@fleet/rollout-domain';
import type { InstallDriver } from '@fleet/rollout-domain';
import { createTestDatabase, deleteKeysWithPrefix, testRedisUrl } from '@fleet/testing';
import type { TestDatabase } from '@fleet/testing';
import { createLeaderLease } from '../src/leader-lease.ts';
import type { ReconcilerDeps } from '../src/reconciler.ts';
import { createReconciler } from '../src/reconciler.ts';

// The process helpers are shared with the worker's tests; the acceptance tests take them from here with the rest.
export { freePort, spawnApp, startPrivateRedis } from '@fleet/testing';
export type { AppProcess, PrivateRedis } from '@fleet/testing';

export const USER_ID = '1234567898765432';
export const ACCESS_KEY_ID = 'LTAIreconcilertest01';
export const ACCESS_KEY_SECRET = 'reconciler-test-secret-Vw3nQ8';

export type RunningSimulator = { sim: Simulator; url: string; cms: CmsClient; close(): Promise<void> };

/** The simulator on port 0 with our test AccessKey, and a CMS client signed for it. */
export async function startSimulator(scenario: Partial<Scenario> & { seed?: string } = {}): Promise<RunningSimulator> {
  const { seed, ...faults } = scenario;
  const sim = createSimulator({
    accessKeys: { [ACCESS_KEY_ID]: ACCESS_KEY_SECRET },
    seed: seed ?? 'reconciler',
    faults: { latencyMs: 2, failureRate: 0, ...faults },
  });
  const { url } = await sim.start(0);
  const cms = createCmsClient({
    endpoint: url,
    credentials: { accessKeyId: ACCESS_KEY_ID, accessKeySecret: ACCESS_KEY_SECRET },
    timeoutMs: 2000,
  });
  return {
    sim,
    url,
    cms,
    async close() {
      await cms.close();
      await sim.stop();
    },
  };
}

export type ReconcilerServices = { db: Database; redis: Redis; simulator: RunningSimulator };

/**
 * What a reconciler test file runs against, set up by hooks it registers: before the file's tests, a database of
 * its own, a control connection to the shared Redis and the simulator (given to `onReady`); after them, the keys
 * under `prefix` are deleted and everything is closed.
 */
export function useReconcilerServices(
  options: { prefix: string; logger: Logger; scenario?: Parameters<typeof startSimulator>[0] },
  onReady: (services: ReconcilerServices) => void,
): void {
  let testDb: TestDatabase | undefined;
  let db: Database | undefined;
  let redis: Redis | undefined;
  let simulator: RunningSimulator | undefined;
  beforeAll(async () => {
    testDb = await createTestDatabase();
    db = createDatabase({ url: testDb.url, poolMax: 5 });
    redis = createRedisConnection(testRedisUrl(), 'control', options.logger);
    simulator = await startSimulator(options.scenario);
    onReady({ db, redis, simulator });
  });
  afterAll(async () => {
    await deleteKeysWithPrefix(options.prefix);
    await redis?.quit();
    await simulator?.close();
    await db?.close();
    await testDb?.drop();
  });
}

export function makeReconciler(
  deps: Pick<ReconcilerDeps, 'db' | 'redis' | 'prefix' | 'logger' | 'cms'> & Partial<ReconcilerDeps>,
  holder = 'test',
): ReturnType<typeof createReconciler> {
  return createReconciler({
    lease: createLeaderLease(deps.redis, { key: reconcilerLeaderKey(deps.prefix), holder, ttlMs: 5000 }),
    intervalMs: 50,
    enqueueGraceMs: 1000,
    staleAttemptMs: 1000,
    verifyWindowMs: 60_000,
    reconcilerId: holder,
    ...deps,
  });
}

/** A rollout recorded in Postgres with every job in Redis, as the API leaves it. */
export async function createEnqueuedRollout(
  db: Database,
  redis: Redis,
  prefix: string,
  logger: Logger,
  ids: string[],
  options: {
    concurrency?: number;
    maxAttempts?: number;
    force?: boolean;
    waveSizes?: number[];
    enqueue?: boolean;
    /** policy.driver; default node-install. */
    driver?: InstallDriver;
  } = {},
): Promise<{ rolloutId: string; instances: { id: bigint; instanceId: string }[] }> {
  const concurrency = options.concurrency ?? 10;
  const retry = { ...DEFAULT_RETRY_POLICY, maxAttempts: options.maxAttempts ?? 3, baseDelayMs: 20, maxDelayMs: 100 };
  const { rollout, instances } = await insertRollout(db, {
    userId: USER_ID,
    force: options.force ?? true,
    concurrency,
    maxAttempts: retry.maxAttempts,
    policy: { concurrency, retry, ...(options.driver ? { driver: options.driver } : {}) },
    instanceIds: ids,
    ...(options.waveSizes ? { waveSizes: options.waveSizes } : {}),
  });
  if (options.enqueue !== false) {
    const firstWave = options.waveSizes ? instances.slice(0, options.waveSizes[0]) : instances;
    const queue = openInstallQueue(redis, rollout.id, prefix, logger);
    await enqueueInstallJobs(queue, { rolloutId: rollout.id, concurrency, instances: firstWave });
    await queue.close();
    await markRolloutEnqueued(db, rollout.id);
  }
  return { rolloutId: rollout.id, instances: instances.map((i) => ({ id: i.id, instanceId: i.instanceId })) };
}

/**
 * Environment of the app processes (worker, reconciler, api) an acceptance test spawns: its database, Redis and
 * queue prefix, the simulator with this file's credentials, quick rollout polling and an account rate that never
 * binds; `overrides` last.
 */
export function appEnv(
  services: { databaseUrl: string; redisUrl: string; prefix: string; simulatorUrl: string; callTimeoutMs: number },
  overrides: Record<string, string> = {},
): Record<string, string> {
  return {
    DATABASE_URL: services.databaseUrl,
    REDIS_URL: services.redisUrl,
    QUEUE_PREFIX: services.prefix,
    CMS_ENDPOINT: services.simulatorUrl,
    CMS_ACCESS_KEY_ID: ACCESS_KEY_ID,
    CMS_ACCESS_KEY_SECRET: ACCESS_KEY_SECRET,
    CMS_TIMEOUT_MS: String(services.callTimeoutMs),
    ROLLOUT_POLL_MS: '200',
    ACCOUNT_RATE_LIMIT_RPS: '100000',
    ACCOUNT_RATE_BURST: '1000',
    LOG_LEVEL: 'warn',
    ...overrides,
  };
}

/**
 * What every fault acceptance test checks of a completed rollout, per instance: its state is the simulator's fate
 * for it; exactly one terminal attempt, the last; every attempt finished; the simulator's calls for it equal its
 * attempt rows (none lost, none written twice); never installed twice.
 */
export async function expectEveryCallOneAttemptRow(
  db: Database,
  simulator: RunningSimulator,
  rolloutId: string,
  fate: {
    seed: string;
    failureRate: number;
    instances: number;
    /** Whose calls the simulator's counts are read from: NodeInstall's (default) or InstallMonitoringAgent's. */
    driver?: InstallDriver;
  },
  /**
   * `allowed`: some attempts may have ended without an answer (a call that timed out), not knowing whether their
   * request arrived: then calls lie between the answered attempts and all of them, and every answer recorded is
   * one the simulator gave. Default `none`: calls equal attempt rows exactly.
   */
  unknownOutcomes: 'none' | 'allowed' = 'none',
): Promise<void> {
  const instances = await db.prisma.rolloutInstance.findMany({
    where: { rolloutId },
    include: { attempts: { orderBy: { attemptNo: 'asc' } } },
  });
  expect(instances).toHaveLength(fate.instances);
  const stats = simulator.sim.stats();
  const callsByInstance =
    fate.driver === 'install-monitoring-agent' ? stats.monitoringAgent.callsByInstance : stats.callsByInstance;
  for (const instance of instances) {
    expect(instance.state === 'failed', instance.instanceId).toBe(
      isFailingInstance(fate.seed, instance.instanceId, fate.failureRate),
    );
    const terminal = instance.attempts.filter((a) => a.outcome === 'success' || a.outcome === 'final');
    expect(terminal, instance.instanceId).toHaveLength(1);
    expect(instance.attempts.at(-1)!.id).toBe(terminal[0]!.id);
    expect(instance.attempts.every((a) => a.finishedAt !== null)).toBe(true);
    const calls = callsByInstance[instance.instanceId] ?? 0;
    if (unknownOutcomes === 'none') expect(calls, instance.instanceId).toBe(instance.attempts.length);
    else {
      const answered = instance.attempts.filter((a) => a.requestId !== null);
      const given = new Set(simulator.sim.instance(instance.instanceId).requestIds);
      for (const attempt of answered) expect(given.has(attempt.requestId!), instance.instanceId).toBe(true);
      expect(calls, instance.instanceId).toBeGreaterThanOrEqual(answered.length);
      expect(calls, instance.instanceId).toBeLessThanOrEqual(instance.attempts.length);
    }
    expect(stats.installsByInstance[instance.instanceId] ?? 0).toBeLessThanOrEqual(1);
  }
}
