import { createAccountClients } from '@fleet/accounts';
import { cmsClientOptions, createCmsClient, startCmsSendThread } from '@fleet/cms-client';
import {
  createAttemptWriter,
  createDatabase,
  createDatabaseClock,
  listCallsInFlight,
  warmInstallPath,
} from '@fleet/db';
import { startApp, stopOnSignal } from '@fleet/lifecycle';
import {
  createAccountRateLimiter,
  createCallAdmission,
  createGlobalConcurrency,
  createLimitsRecovery,
  LIMITS_SETTLE_MARGIN_MS,
  publishLimitsConfig,
} from '@fleet/limits';
import { createMetricsRegistry, createWorkerMetrics, serveMetrics } from '@fleet/metrics';
import { createRedisConnection, redisTargetOf } from '@fleet/queue';
import { secretBoxFromConfig } from '@fleet/secrets';
import { loadWorkerConfig } from './config.ts';
import { createInstallProcessor } from './install-processor.ts';
import { createRolloutCache } from './rollout-cache.ts';
import { createRolloutWorkerPool } from './rollout-worker-pool.ts';
import { STALE_GRACE_MS } from './install-call.ts';
import { sendThreadNice, sendThreadPriorityLog } from './send-thread-priority.ts';

const { config, logger } = startApp('worker', () => loadWorkerConfig(process.env), {
  secrets: (c) => [c.CMS_ACCESS_KEY_SECRET, c.CMS_SECURITY_TOKEN ?? ''],
});

const db = createDatabase({
  url: config.DATABASE_URL,
  applicationName: 'fleet-worker',
  poolMax: config.DB_POOL_MAX,
  onPoolError: (error) => logger.warn('postgres pool error', { error: error.message }),
});
// The install path's times (claims, a window's calls_until, retry due times) on Postgres's clock, not this host's:
// with hosts a few seconds apart, no claim may start a call past a maintenance window's end.
const clock = createDatabaseClock(db);
await clock.start();
const redisTarget = redisTargetOf(config);
const connection = createRedisConnection(redisTarget, 'worker', logger);
// The limit scripts get a connection of their own (auto-pipelined, see RedisRole), apart from BullMQ's.
const limitsConnection = createRedisConnection(redisTarget, 'limits', logger);
// Subscribed to rollouts announced as they are enqueued (a connection in subscriber mode takes no other commands).
const announcements = createRedisConnection(redisTarget, 'worker', logger);
// One keep-alive connection per call this process may have in flight (the global cap bounds them); with fewer, calls
// past the pool's size would queue inside the client while holding a slot. The connections of every account's client
// are in the send thread, which sends each call at its start however busy this loop is with its jobs.
const sendThread = startCmsSendThread({ nice: sendThreadNice(config.SEND_THREAD_NICE) });
const ownClientOptions = { ...cmsClientOptions(config), maxConnections: config.GLOBAL_CONCURRENCY, sendThread };
const cms = createCmsClient(ownClientOptions);
// Each account's calls are signed with its own credentials (opened with FLEET_ENCRYPTION_KEY) at its own endpoint,
// else with the pair above; its settings are read again every ACCOUNT_REFRESH_MS.
const accounts = createAccountClients({
  db,
  box: secretBoxFromConfig(config),
  own: {
    client: cms,
    options: ownClientOptions,
    limits: { maxRatePerSecond: config.ACCOUNT_RATE_LIMIT_RPS, burst: config.ACCOUNT_RATE_BURST },
  },
  allowlist: config.CMS_ENDPOINT_ALLOWLIST,
  logger,
  refreshMs: config.ACCOUNT_REFRESH_MS,
});
const control = {
  db,
  redis: connection,
  prefix: config.QUEUE_PREFIX,
  logger,
  by: { actor: { kind: 'worker', id: config.WORKER_ID } },
} as const;
const globalConcurrency = createGlobalConcurrency(limitsConnection, {
  prefix: config.QUEUE_PREFIX,
  cap: config.GLOBAL_CONCURRENCY,
  leaseMs: config.CMS_TIMEOUT_MS * 2 + 10_000,
});
const accountRate = createAccountRateLimiter(limitsConnection, {
  prefix: config.QUEUE_PREFIX,
  maxRatePerSecond: config.ACCOUNT_RATE_LIMIT_RPS,
  burst: config.ACCOUNT_RATE_BURST,
  // An account's own rate and burst (its settings as last read), else the two above.
  limitsOf: (userId) => accounts.limitsOf(userId),
  // The schedule on Postgres's clock, as the attempts' started_at: every worker, on whatever host, reserves starts on
  // one time line, and a start recorded is the one reserved.
  now: clock.nowMs,
});
// Should Redis lose the cap's slots (restarted without persistence, flushed), admissions wait while one process
// rebuilds them from the attempts in flight in Postgres (this one, another worker or the reconciler).
const callStaleAfterMs = config.CMS_TIMEOUT_MS + STALE_GRACE_MS;
const limitsRecovery = createLimitsRecovery({
  redis: limitsConnection,
  prefix: config.QUEUE_PREFIX,
  callsInFlight: () => listCallsInFlight(db, callStaleAfterMs),
  staleAfterMs: callStaleAfterMs,
  settleMs: config.ACCOUNT_RATE_MAX_WAIT_MS + LIMITS_SETTLE_MARGIN_MS,
  onRecovered: (facts) => logger.warn("rebuilt the global cap's slots from Postgres: Redis had lost them", facts),
});
const recoverLimits = () =>
  limitsRecovery.ensure().catch((error: unknown) =>
    logger.warn('could not rebuild the limits yet; the next admission tries again', {
      error: (error as Error).message,
    }),
  );
// Slots of finished calls go back with the next admit (one round trip per call instead of two); flushed on stop.
const admission = createCallAdmission(
  { rate: accountRate, global: globalConcurrency },
  {
    maxWaitMs: config.ACCOUNT_RATE_MAX_WAIT_MS,
    limitsLost: () => void recoverLimits(),
    onReleaseError: (error) =>
      logger.warn('giving call slots back failed; retrying (their leases expire regardless)', {
        error: (error as Error).message,
      }),
  },
);
const registry = createMetricsRegistry();
const metrics = createWorkerMetrics(registry, {
  accountRate: (userId) => accountRate.currentRate(userId),
  globalSlotsInUse: () => globalConcurrency.inFlight(),
  databaseClock: () => clock.measured,
});
// The API shows the limits in force; workers publish them.
await publishLimitsConfig(connection, config.QUEUE_PREFIX, {
  globalConcurrency: config.GLOBAL_CONCURRENCY,
  accountRateLimitRps: config.ACCOUNT_RATE_LIMIT_RPS,
});
const pool = createRolloutWorkerPool({
  db,
  connection,
  prefix: config.QUEUE_PREFIX,
  processor: createInstallProcessor({
    db,
    attempts: createAttemptWriter(db, { onBatch: (size) => metrics.writeBatch(size) }),
    metrics,
    accounts,
    rollouts: createRolloutCache(db, { ttlMs: 1000 }),
    control,
    globalConcurrency,
    accountRate,
    admission,
    logger,
    workerId: config.WORKER_ID,
    callTimeoutMs: config.CMS_TIMEOUT_MS,
    now: clock.now,
  }),
  logger,
  pollMs: config.ROLLOUT_POLL_MS,
  announcements,
  maxConcurrencyPerRollout: config.WORKER_CONCURRENCY,
  lockDurationMs: config.LOCK_DURATION_MS,
  shutdownTimeoutMs: config.SHUTDOWN_TIMEOUT_MS,
});

// The install path's connections and statements, ready before the first rollout's first claims (best effort).
void warmInstallPath(db).catch((error: unknown) =>
  logger.warn('could not prepare the install path ahead of the first claims', { error: (error as Error).message }),
);
const metricsServer = await serveMetrics({ registry, port: config.METRICS_PORT, logger });
// A new deployment's (or an emptied Redis's) limits are made before the first job is taken.
await recoverLimits();
// A call handed to the send thread before it has loaded would wait for it, late for its start.
const priorityLog = sendThreadPriorityLog(await sendThread.ready(), config.SEND_THREAD_NICE);
logger.log(priorityLog.level, priorityLog.message, priorityLog.fields);
await pool.start();
logger.info('worker started', { workerId: config.WORKER_ID });

stopOnSignal({
  name: 'worker',
  logger,
  async stop() {
    await pool.stop();
    clock.stop();
    await metricsServer?.stop();
    await admission.flush().catch(() => undefined);
    await Promise.allSettled([
      accounts
        .close()
        .then(() => cms.close())
        .finally(() => sendThread.stop()),
      db.close(),
      connection.quit(),
      limitsConnection.quit(),
      announcements.quit(),
    ]);
  },
});
