import { createAccountClients } from '@fleet/accounts';
import { cmsClientOptions, createCmsClient } from '@fleet/cms-client';
import { createDatabase, createDatabaseClock } from '@fleet/db';
import { startApp, stopOnSignal } from '@fleet/lifecycle';
import { createAccountRateLimiter } from '@fleet/limits';
import { createMetricsRegistry, createReconcilerMetrics, serveMetrics } from '@fleet/metrics';
import { createRedisConnection, redisTargetOf, reconcilerLeaderKey } from '@fleet/queue';
import { secretBoxFromConfig } from '@fleet/secrets';
import { loadReconcilerConfig } from './config.ts';
import { createLeaderLease } from './leader-lease.ts';
import { createReconciler } from './reconciler.ts';
import { readReconcilerSnapshot, repairsOf } from './reconciler-metrics.ts';

const { config, logger } = startApp('reconciler', () => loadReconcilerConfig(process.env), {
  secrets: (c) => [c.CMS_ACCESS_KEY_SECRET, c.CMS_SECURITY_TOKEN ?? ''],
});

const db = createDatabase({
  url: config.DATABASE_URL,
  applicationName: 'fleet-reconciler',
  poolMax: 5,
  onPoolError: (error) => logger.warn('postgres pool error', { error: error.message }),
});
const redisTarget = redisTargetOf(config);
const redis = createRedisConnection(redisTarget, 'control', logger);
const ownClientOptions = cmsClientOptions(config);
const cms = createCmsClient(ownClientOptions);
// The verification calls of an account are made with its own credentials and endpoint, as its installs were.
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
});
// The verification calls keep to each account's rate schedule in Redis, shared with the workers' install calls.
const accountRate = createAccountRateLimiter(redis, {
  prefix: config.QUEUE_PREFIX,
  maxRatePerSecond: config.ACCOUNT_RATE_LIMIT_RPS,
  burst: config.ACCOUNT_RATE_BURST,
  // An account's own rate and burst (its settings as last read), else the two above.
  limitsOf: (userId) => accounts.limitsOf(userId),
});
const registry = createMetricsRegistry();
const metrics = createReconcilerMetrics(registry, {
  snapshot: () => readReconcilerSnapshot({ db, redis, prefix: config.QUEUE_PREFIX }),
});
// Schedules are decided on Postgres's time: every process agrees on a window's edges whatever its host's clock says.
const clock = createDatabaseClock(db);
await clock.start();
const reconciler = createReconciler({
  scheduleNow: clock.now,
  reconcilerId: config.RECONCILER_ID,
  db,
  redis,
  prefix: config.QUEUE_PREFIX,
  logger,
  cms,
  accounts,
  accountRate,
  lease: createLeaderLease(redis, {
    key: reconcilerLeaderKey(config.QUEUE_PREFIX),
    holder: config.RECONCILER_ID,
    ttlMs: Math.max(30_000, config.RECONCILE_INTERVAL_MS * 3),
  }),
  intervalMs: config.RECONCILE_INTERVAL_MS,
  enqueueGraceMs: config.ENQUEUE_GRACE_MS,
  staleAttemptMs: config.RECONCILE_STALE_ATTEMPT_MS,
  verifyWindowMs: config.VERIFY_WINDOW_MS,
  verifyBatchSize: config.VERIFY_BATCH_SIZE,
  idempotencyRetentionMs: config.IDEMPOTENCY_RETENTION_MS,
  attemptRetentionDays: config.ATTEMPT_RETENTION_DAYS,
  lookbackMs: config.RECONCILE_LOOKBACK_MS,
  onPassFinished: (report) => metrics.passFinished({ leader: report.leader, repairs: repairsOf(report) }),
});
const metricsServer = await serveMetrics({ registry, port: config.METRICS_PORT, logger });
reconciler.start();
logger.info('reconciler started', { intervalMs: config.RECONCILE_INTERVAL_MS });

stopOnSignal({
  name: 'reconciler',
  logger,
  async stop() {
    await reconciler.stop();
    clock.stop();
    await metricsServer?.stop();
    await Promise.allSettled([accounts.close().then(() => cms.close()), db.close(), redis.quit()]);
  },
});
