import type { Redis } from 'ioredis';
import { createAccountClients, parseEndpointAllowlist } from '@fleet/accounts';
import type { AccountClients } from '@fleet/accounts';
import { createCmsClient, startCmsSendThread } from '@fleet/cms-client';
import type { CmsClient, CmsSendThread } from '@fleet/cms-client';
import { createSimulator } from '@fleet/cms-simulator';
import type { Scenario, ScenarioProfile, Simulator } from '@fleet/cms-simulator';
import { createAttemptWriter, createDatabase, insertRollout, markRolloutEnqueued, warmInstallPath } from '@fleet/db';
import type { Database } from '@fleet/db';
import type { Logger } from '@fleet/logger';
import type { SecretBox } from '@fleet/secrets';
import type { MetricsRegistry, WorkerMetrics } from '@fleet/metrics';
import { createMetricsRegistry, createWorkerMetrics } from '@fleet/metrics';
import { createAccountRateLimiter, createCallAdmission, createGlobalConcurrency } from '@fleet/limits';
import { createRedisConnection, enqueueInstallJobs, openInstallQueue } from '@fleet/queue';
import type { RolloutPolicy } from '@fleet/rollout-domain';
import { planWaveSizes, resolveCount } from '@fleet/rollout-domain';
import type { RetryPolicy } from '@fleet/rollout-domain';
import { DEFAULT_RETRY_POLICY, defaultPolicy } from '@fleet/rollout-domain';
import { capturingLogger, createTestDatabase, deleteKeysWithPrefix, testRedisUrl, uniquePrefix } from '@fleet/testing';
import type { TestDatabase } from '@fleet/testing';
import { createInstallProcessor } from '../src/install-processor.ts';
import { createRolloutCache } from '../src/rollout-cache.ts';
import { createRolloutWorkerPool } from '../src/rollout-worker-pool.ts';
import type { RolloutWorkerPool } from '../src/rollout-worker-pool.ts';

export const USER_ID = '1234567898765432';
export const ACCESS_KEY_ID = 'LTAItestkey000001';
export const ACCESS_KEY_SECRET = 'worker-test-secret-Zq8xKp2';

export type WorkerHarness = {
  db: Database;
  dbUrl: string;
  redis: Redis;
  prefix: string;
  sim: Simulator;
  simUrl: string;
  logger: Logger;
  logLines: string[];
  createRollout(
    ids: string[],
    options?: {
      concurrency?: number | `${number}%`;
      retry?: Partial<RetryPolicy>;
      force?: boolean;
      userId?: string;
      policy?: Partial<RolloutPolicy>;
      /** `scheduled`: the scheduler (rollout-control applySchedules) starts it. Default running. */
      status?: 'running' | 'scheduled';
    },
  ): Promise<string>;
  startPool(options?: {
    pollMs?: number;
    announcements?: boolean;
    globalConcurrency?: number;
    accountRateLimitRps?: number;
    accountRateBurst?: number;
    maxConcurrencyPerRollout?: number;
    lockDurationMs?: number;
    shutdownTimeoutMs?: number;
    callTimeoutMs?: number;
    accessKeyId?: string;
    accessKeySecret?: string;
    method?: 'GET' | 'POST';
    /** The install processor's clock (InstallProcessorDeps.now); default the system clock. */
    now?: () => Date;
    /** The clock a claim compares a window's end with (InstallProcessorDeps.scheduleNow); default `now`. */
    scheduleNow?: () => Date;
    /** Counts into these metrics (group-commit batches included), as main.ts wires them. Default: none. */
    metrics?: WorkerMetrics;
    /** Opens accounts' sealed credentials (FLEET_ENCRYPTION_KEY). Default: none. */
    box?: SecretBox;
    /** ACCOUNT_REFRESH_MS. Default 200. */
    accountRefreshMs?: number;
    /** The admission's start lead (CallAdmissionOptions.startLeadMs). Default the admission's own. */
    startLeadMs?: number;
    /** How the processor waits for a call's start (InstallProcessorDeps.sleep). Default setTimeout. */
    sleep?: (ms: number) => Promise<void>;
    /** Sends the pool's calls from a send thread of its own, as main.ts does (startCmsSendThread). Default: not. */
    sendThread?: boolean;
  }): Promise<RolloutWorkerPool>;
  waitForRolloutStatus(rolloutId: string, status: string, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
};

/**
 * Real Postgres (own database), real Redis (own prefix), the simulator over real HTTP on port 0. Without a profile
 * the simulator answers fast and fails no instance unless told; a profile brings its own rates (faults still win).
 */
export async function startHarness(
  simOptions: Partial<Scenario> & { seed?: string; profile?: ScenarioProfile } = {},
): Promise<WorkerHarness> {
  const testDb: TestDatabase = await createTestDatabase();
  const { logger, lines: logLines } = capturingLogger({ service: 'worker-test', secrets: [ACCESS_KEY_SECRET] });
  const db = createDatabase({ url: testDb.url, poolMax: 20 });
  const redis = createRedisConnection(testRedisUrl(), 'worker', logger);
  const prefix = uniquePrefix('worker');
  const { seed, profile, ...faults } = simOptions;
  const sim = createSimulator({
    accessKeys: { [ACCESS_KEY_ID]: ACCESS_KEY_SECRET },
    seed: seed ?? 'fleet',
    ...(profile ? { profile, faults } : { faults: { latencyMs: 5, failureRate: 0, ...faults } }),
  });
  const { url: simUrl } = await sim.start(0);
  const pools: RolloutWorkerPool[] = [];
  const clients: CmsClient[] = [];
  const sendThreads: CmsSendThread[] = [];
  const startedSendThread = (): CmsSendThread => {
    const thread = startCmsSendThread();
    sendThreads.push(thread);
    return thread;
  };
  const accountClients: AccountClients[] = [];
  const connections: Redis[] = [];

  const harness: WorkerHarness = {
    db,
    dbUrl: testDb.url,
    redis,
    prefix,
    sim,
    simUrl,
    logger,
    logLines,
    async createRollout(ids, options = {}) {
      const retry = { ...DEFAULT_RETRY_POLICY, baseDelayMs: 20, maxDelayMs: 100, ...options.retry };
      const policy: RolloutPolicy = {
        ...defaultPolicy(),
        ...options.policy,
        concurrency: options.concurrency ?? options.policy?.concurrency ?? 10,
        retry,
      };
      const concurrency = resolveCount(policy.concurrency, ids.length);
      const { rollout, instances } = await insertRollout(db, {
        userId: options.userId ?? USER_ID,
        force: options.force ?? true,
        concurrency,
        maxAttempts: retry.maxAttempts,
        policy: policy as never,
        instanceIds: ids,
        waveSizes: planWaveSizes(policy.waves, ids.length),
        ...(options.status ? { status: options.status } : {}),
      });
      const queue = openInstallQueue(redis, rollout.id, prefix, logger);
      await enqueueInstallJobs(queue, {
        rolloutId: rollout.id,
        concurrency,
        instances: instances.filter((i) => i.waveNo === 1),
      });
      await queue.close();
      await markRolloutEnqueued(db, rollout.id);
      return rollout.id;
    },
    async startPool(options = {}) {
      const clientOptions = {
        endpoint: simUrl,
        credentials: {
          accessKeyId: options.accessKeyId ?? ACCESS_KEY_ID,
          accessKeySecret: options.accessKeySecret ?? ACCESS_KEY_SECRET,
        },
        timeoutMs: options.callTimeoutMs ?? 2000,
        method: options.method ?? 'POST',
        ...(options.sendThread ? { sendThread: startedSendThread() } : {}),
      } as const;
      const cms = createCmsClient(clientOptions);
      clients.push(cms);
      const rateLimits = {
        maxRatePerSecond: options.accountRateLimitRps ?? 100_000,
        burst: options.accountRateBurst ?? 1000,
      };
      const accounts = createAccountClients({
        db,
        box: options.box,
        own: { client: cms, options: clientOptions, limits: rateLimits },
        allowlist: parseEndpointAllowlist('127.0.0.1'),
        logger,
        refreshMs: options.accountRefreshMs ?? 200,
      });
      accountClients.push(accounts);
      // Each pool gets connections of its own, as a separate worker process would.
      const connection = createRedisConnection(testRedisUrl(), 'worker', logger);
      connections.push(connection);
      const announcements =
        options.announcements === false ? undefined : createRedisConnection(testRedisUrl(), 'worker', logger);
      if (announcements) connections.push(announcements);
      const globalConcurrency = createGlobalConcurrency(connection, {
        prefix,
        cap: options.globalConcurrency ?? 1000,
        leaseMs: 30_000,
      });
      const accountRate = createAccountRateLimiter(connection, {
        prefix,
        ...rateLimits,
        limitsOf: (userId) => accounts.limitsOf(userId),
      });
      const pool = createRolloutWorkerPool({
        db,
        connection,
        prefix,
        processor: createInstallProcessor({
          db,
          accounts,
          rollouts: createRolloutCache(db, { ttlMs: 200 }),
          control: {
            db,
            redis: connection,
            prefix,
            logger,
            by: { actor: { kind: 'worker', id: `test-${pools.length}` } },
          },
          globalConcurrency,
          accountRate,
          ...(options.startLeadMs === undefined
            ? {}
            : {
                admission: createCallAdmission(
                  { rate: accountRate, global: globalConcurrency },
                  { startLeadMs: options.startLeadMs },
                ),
              }),
          logger,
          workerId: `test-${pools.length}`,
          callTimeoutMs: options.callTimeoutMs ?? 2000,
          ...(options.now ? { now: options.now } : {}),
          ...(options.scheduleNow ? { scheduleNow: options.scheduleNow } : {}),
          ...(options.sleep ? { sleep: options.sleep } : {}),
          ...(options.metrics ? withMetrics(db, options.metrics) : {}),
        }),
        logger,
        pollMs: options.pollMs ?? 100,
        ...(announcements ? { announcements } : {}),
        maxConcurrencyPerRollout: options.maxConcurrencyPerRollout ?? 100,
        lockDurationMs: options.lockDurationMs ?? 5000,
        shutdownTimeoutMs: options.shutdownTimeoutMs ?? 10_000,
      });
      pools.push(pool);
      // As main.ts does: the first claims do not wait for connections and statement plans, which would make the
      // first calls late for their reserved starts, and bunch them.
      await warmInstallPath(db);
      await pool.start();
      return pool;
    },
    async waitForRolloutStatus(rolloutId, status, timeoutMs = 60_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const rollout = await db.prisma.rollout.findUniqueOrThrow({ where: { id: rolloutId } });
        if (rollout.status === status) return;
        if (Date.now() > deadline) {
          const counts = await db.prisma.rolloutInstance.groupBy({ by: ['state'], where: { rolloutId }, _count: true });
          throw new Error(
            `rollout ${rolloutId} is ${rollout.status}, not ${status}, after ${timeoutMs} ms; instances: ${JSON.stringify(counts)}`,
          );
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    async close() {
      await Promise.all(pools.map((p) => p.stop()));
      await Promise.all(accountClients.map((a) => a.close()));
      await Promise.all(clients.map((c) => c.close()));
      await Promise.all(sendThreads.map((t) => t.stop()));
      await Promise.all(connections.map((c) => c.quit()));
      await sim.stop();
      await deleteKeysWithPrefix(prefix);
      await redis.quit();
      await db.close();
      await testDb.drop();
    },
  };
  return harness;
}

/** The processor's deps that make it count into `metrics`, as the worker's main.ts passes them. */
function withMetrics(db: Database, metrics: WorkerMetrics) {
  return { metrics, attempts: createAttemptWriter(db, { onBatch: (size) => metrics.writeBatch(size) }) };
}

/**
 * A worker's metrics in a registry of its own (two pools in one test process must not count into each other), read
 * from the harness's Redis limits as the worker's main.ts wires them; serve `registry` or read its text.
 */
export function harnessWorkerMetrics(harness: WorkerHarness): { registry: MetricsRegistry; metrics: WorkerMetrics } {
  const registry = createMetricsRegistry();
  const metrics = createWorkerMetrics(registry, {
    accountRate: (userId) =>
      createAccountRateLimiter(harness.redis, { prefix: harness.prefix, maxRatePerSecond: 100_000 }).currentRate(
        userId,
      ),
    globalSlotsInUse: () =>
      createGlobalConcurrency(harness.redis, { prefix: harness.prefix, cap: 1000, leaseMs: 30_000 }).inFlight(),
  });
  return { registry, metrics };
}

/** Attempt rows and final states of a rollout, for assertions. */
export async function rolloutFacts(db: Database, rolloutId: string) {
  const instances = await db.prisma.rolloutInstance.findMany({
    where: { rolloutId },
    include: { attempts: { orderBy: { attemptNo: 'asc' } } },
    orderBy: { instanceId: 'asc' },
  });
  return instances;
}
