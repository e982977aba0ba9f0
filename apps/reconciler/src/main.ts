import { redactConfig } from '@fleet/config';
import { createDatabase } from '@fleet/db';
import { createLogger } from '@fleet/logger';
import { createRedisConnection } from '@fleet/queue';
import { loadReconcilerConfig } from './config.ts';
import { createLeaderLease } from './leader-lease.ts';
import { createReconciler } from './reconciler.ts';

const config = loadReconcilerConfig(process.env);
const logger = createLogger({ service: 'reconciler', level: config.LOG_LEVEL });
logger.info('starting reconciler', { config: redactConfig(config) });

const db = createDatabase({ url: config.DATABASE_URL, poolMax: 5, onPoolError: (error) => logger.warn('postgres pool error', { error: error.message }) });
const redis = createRedisConnection(config.REDIS_URL, 'control', logger);
const reconciler = createReconciler({
  db,
  redis,
  prefix: config.QUEUE_PREFIX,
  logger,
  lease: createLeaderLease(redis, { key: `${config.QUEUE_PREFIX}:reconciler:leader`, holder: config.RECONCILER_ID, ttlMs: Math.max(30_000, config.RECONCILE_INTERVAL_MS * 3) }),
  intervalMs: config.RECONCILE_INTERVAL_MS,
  enqueueGraceMs: config.ENQUEUE_GRACE_MS,
});
reconciler.start();
logger.info('reconciler started', { intervalMs: config.RECONCILE_INTERVAL_MS });

let stopping = false;
async function stop(signal: string): Promise<void> {
  if (stopping) {
    logger.warn('second signal, exiting now', { signal });
    process.exit(1);
  }
  stopping = true;
  logger.info('stopping reconciler', { signal });
  await reconciler.stop();
  await Promise.allSettled([db.$disconnect(), redis.quit()]);
  logger.info('reconciler stopped');
  process.exit(0);
}
process.on('SIGTERM', () => void stop('SIGTERM'));
process.on('SIGINT', () => void stop('SIGINT'));
