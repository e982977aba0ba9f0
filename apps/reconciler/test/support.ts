import { spawn } from 'node:child_process';
import { Redis } from 'ioredis';
import { afterAll, beforeAll } from 'vitest';
import { createCmsClient } from '@fleet/cms-client';
import type { CmsClient } from '@fleet/cms-client';
import { createSimulator } from '@fleet/cms-simulator';
import type { Scenario, Simulator } from '@fleet/cms-simulator';
import type { Database } from '@fleet/db';
import { createDatabase, insertRollout, markRolloutEnqueued } from '@fleet/db';
import type { Logger } from '@fleet/logger';
import { createRedisConnection, enqueueInstallJobs, openInstallQueue, reconcilerLeaderKey } from '@fleet/queue';
import { DEFAULT_RETRY_POLICY } from '@fleet/rollout-domain';
import { createTestDatabase, deleteKeysWithPrefix, freePort, testRedisUrl } from '@fleet/testing';
import type { TestDatabase } from '@fleet/testing';
import { createLeaderLease } from '../src/leader-lease.ts';
import type { ReconcilerDeps } from '../src/reconciler.ts';
import { createReconciler } from '../src/reconciler.ts';

// The process helpers are shared with the worker's tests; the acceptance tests take them from here with the rest.
export { freePort, spawnApp } from '@fleet/testing';
export type { AppProcess } from '@fleet/testing';

export const USER_ID = '1234567898765432';
const ACCESS_KEY_ID = 'LTAIreconcilertest01';
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
  } = {},
): Promise<{ rolloutId: string; instances: { id: bigint; instanceId: string }[] }> {
  const concurrency = options.concurrency ?? 10;
  const retry = { ...DEFAULT_RETRY_POLICY, maxAttempts: options.maxAttempts ?? 3, baseDelayMs: 20, maxDelayMs: 100 };
  const { rollout, instances } = await insertRollout(db, {
    userId: USER_ID,
    force: options.force ?? true,
    concurrency,
    maxAttempts: retry.maxAttempts,
    policy: { concurrency, retry },
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
 * A Redis of a test's own, for tests that FLUSHALL it or take it away: the shared Redis on 6379 is used by other
 * test files and people at the same time. No persistence; killed by stop().
 */
export type PrivateRedis = { url: string; port: number; stop(): Promise<void> };

export async function startPrivateRedis(): Promise<PrivateRedis> {
  const port = await freePort();
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no'],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = `redis://127.0.0.1:${port}`;
  const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  probe.on('error', () => undefined); // refused until the server listens; retried below
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      await probe.connect();
      if ((await probe.ping()) === 'PONG') break;
    } catch {
      probe.disconnect();
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`redis-server on port ${port} did not come up`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  probe.disconnect();
  return {
    url,
    port,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
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
