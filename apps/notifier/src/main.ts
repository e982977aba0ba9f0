import { createDatabase, createEventListener, FLEET_EVENTS_CHANNEL } from '@fleet/db';
import { EXIT_CODES, startApp, stopOnSignal } from '@fleet/lifecycle';
import { createRedisConnection, redisTargetOf } from '@fleet/queue';
import { secretBoxFromConfig } from '@fleet/secrets';
import { loadNotifierConfig } from './config.ts';
import { missingEncryptionKeyProblem } from './encryption-check.ts';
import { createNotifier } from './notifier.ts';

const { config, logger } = startApp('notifier', () => loadNotifierConfig(process.env));

const db = createDatabase({
  url: config.DATABASE_URL,
  applicationName: 'fleet-notifier',
  poolMax: Math.min(10, config.WEBHOOK_CONCURRENCY + 2),
  onPoolError: (error) => logger.warn('postgres pool error', { error: error.message }),
});
const redis = createRedisConnection(redisTargetOf(config), 'worker', logger);
const secretBox = secretBoxFromConfig(config);
const keyProblem = await missingEncryptionKeyProblem(db, secretBox);
if (keyProblem) {
  // One line, as a malformed variable's (loadConfigOrExit), and EX_CONFIG.
  process.stderr.write(`notifier: configuration error: ${keyProblem}\n`);
  await Promise.allSettled([db.close(), redis.quit()]);
  process.exit(EXIT_CODES.config);
}
if (!secretBox) logger.warn('FLEET_ENCRYPTION_KEY is not set: webhook subscriptions cannot be made or sent');
const notifier = createNotifier({
  db,
  redis,
  prefix: config.QUEUE_PREFIX,
  logger,
  secretBox,
  listen: (handlers) =>
    createEventListener({
      url: config.DATABASE_URL,
      channel: FLEET_EVENTS_CHANNEL,
      applicationName: 'fleet-notifier:events',
      ...handlers,
    }),
  notifierId: config.NOTIFIER_ID,
  allowPrivateNetworks: config.WEBHOOK_ALLOW_PRIVATE_NETWORKS,
  concurrency: config.WEBHOOK_CONCURRENCY,
  timeoutMs: config.WEBHOOK_TIMEOUT_MS,
  retryDelaysMs: config.WEBHOOK_RETRY_DELAYS_MS,
  disableAfterMs: config.WEBHOOK_DISABLE_AFTER_MS,
  redriveIntervalMs: config.WEBHOOK_REDRIVE_INTERVAL_MS,
  publicBaseUrl: config.PUBLIC_BASE_URL,
});
await notifier.start();
logger.info('notifier started', { concurrency: config.WEBHOOK_CONCURRENCY });

stopOnSignal({
  name: 'notifier',
  logger,
  // An attempt in flight may take WEBHOOK_TIMEOUT_MS to end.
  deadlineMs: config.WEBHOOK_TIMEOUT_MS + 5000,
  async stop() {
    await notifier.stop();
    await Promise.allSettled([db.close(), redis.quit()]);
  },
});
