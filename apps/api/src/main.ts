import type { Server } from 'node:http';
import { fileURLToPath } from 'node:url';
import { createAccountClients } from '@fleet/accounts';
import { cmsClientOptions, createCmsClient } from '@fleet/cms-client';
import { createDatabase, createDatabaseClock, createEventListener, sealClearSecretUrls } from '@fleet/db';
import { startApp, stopOnSignal, trackHttpServer } from '@fleet/lifecycle';
import { chooseLogOutput } from '@fleet/logger';
import { createMetricsRegistry } from '@fleet/metrics';
import { createRedisConnection, openWebhookQueue, redisTargetOf } from '@fleet/queue';
import { secretBoxFromConfig } from '@fleet/secrets';
import { WEBHOOK_KINDS, isSecretUrlKind, maskSecretUrl } from '@fleet/webhooks';
import { createApp } from './app.ts';
import { createBackgroundEnqueues } from './background-enqueues.ts';
import { startEnqueueThread } from './enqueue-thread/enqueue-thread.ts';
import { createRolloutStreamHub } from './event-stream/rollout-stream-hub.ts';
import { ROLLOUT_EVENTS_CHANNEL, readStreamEventsAfter } from './event-stream/stream-events.ts';
import { storeBootstrapAdminKey } from './bootstrap-admin-key.ts';
import { loadApiConfig } from './config.ts';
import { createQueueBoard } from './queue-board.ts';
import { answerClientErrorsWithProblems } from './http/client-error.ts';

// The bootstrap key and the metrics token are masked by value wherever they would appear, like the AccessKey secret
// in the worker.
const { config, logger } = startApp('api', () => loadApiConfig(process.env), {
  secrets: (c) =>
    [c.FLEET_ADMIN_API_KEY, c.METRICS_TOKEN, c.CMS_ACCESS_KEY_SECRET, c.CMS_SECURITY_TOKEN].filter(
      (s): s is string => s !== undefined,
    ),
});

const db = createDatabase({
  url: config.DATABASE_URL,
  applicationName: 'fleet-api',
  poolMax: config.DB_POOL_MAX,
  onPoolError: (error) => logger.warn('postgres pool error', { error: error.message }),
});
const redisTarget = redisTargetOf(config);
const redis = createRedisConnection(redisTarget, 'producer', logger);
const enqueues = createBackgroundEnqueues({ waitMs: config.ENQUEUE_WAIT_MS });
// New rollouts' jobs are built in a thread of this process, not on the event loop that answers requests.
const enqueueThread = startEnqueueThread(
  {
    databaseUrl: config.DATABASE_URL,
    redisTarget,
    queuePrefix: config.QUEUE_PREFIX,
    log: {
      level: config.LOG_LEVEL,
      ...chooseLogOutput({
        format: config.LOG_FORMAT,
        noColor: config.NO_COLOR,
        stdoutIsTTY: process.stdout.isTTY === true,
      }),
      secrets: [config.FLEET_ADMIN_API_KEY, config.METRICS_TOKEN].filter((s): s is string => s !== undefined),
    },
  },
  logger,
);
const queueBoard = createQueueBoard({ db, redis, logger, queuePrefix: config.QUEUE_PREFIX });
// One listen connection of its own (outside the pool) for every event stream this process serves.
const eventStreams = createRolloutStreamHub({
  db,
  redis,
  logger,
  queuePrefix: config.QUEUE_PREFIX,
  readEventsAfter: readStreamEventsAfter(db),
  listen: (handlers) =>
    createEventListener({
      url: config.DATABASE_URL,
      channel: ROLLOUT_EVENTS_CHANNEL,
      applicationName: 'fleet-api:events',
      ...handlers,
    }),
});
// A dry run's pre-check asks CloudMonitor for agent statuses (NodeStatusList or DescribeMonitoringAgentStatuses); a
// few calls in flight at most. An account with credentials of its own is called with them, at its endpoint, as the
// workers call it (its secret opened in this process's memory only, for the client's life).
const ownClientOptions = { ...cmsClientOptions(config), maxConnections: 16 };
const cms = createCmsClient(ownClientOptions);
const secretBox = secretBoxFromConfig(config);
// Chat subscriptions made before their URLs were sealed (migration 20261202110000) are sealed now, once.
if (secretBox) {
  const sealed = await sealClearSecretUrls(db, {
    kinds: WEBHOOK_KINDS.filter(isSecretUrlKind),
    seal: (plaintext, context) => secretBox.seal(plaintext, context),
    mask: maskSecretUrl,
  });
  if (sealed > 0) logger.info('chat webhook URLs sealed', { sealed });
}
const accountClients = createAccountClients({
  db,
  box: secretBox,
  // The pre-check keeps the account's rate schedule in Redis by itself: these limits are not used.
  own: { client: cms, options: ownClientOptions, limits: { maxRatePerSecond: 1, burst: 1 } },
  allowlist: config.CMS_ENDPOINT_ALLOWLIST,
  logger,
});
const webhookQueue = openWebhookQueue(redis, config.QUEUE_PREFIX, logger);
// Schedules are decided on Postgres's time, not this host's clock (a new rollout's startAt, start-now's window).
const clock = createDatabaseClock(db);
await clock.start();
const app = createApp({
  cms,
  accountClients,
  scheduleNow: clock.now,
  db,
  redis,
  logger,
  queuePrefix: config.QUEUE_PREFIX,
  maxInstancesPerRollout: config.MAX_INSTANCES_PER_ROLLOUT,
  bodyLimitBytes: config.BODY_LIMIT_BYTES,
  rateLimit: { limit: config.API_RATE_LIMIT_PER_MINUTE, windowMs: 60_000 },
  apiKeyCacheMs: config.API_KEY_CACHE_MS,
  enqueues,
  enqueueThread,
  queueBoard,
  eventStreams,
  metrics: { registry: createMetricsRegistry(), token: config.METRICS_TOKEN },
  secretBox,
  webhookUrlPolicy: { allowPrivateNetworks: config.WEBHOOK_ALLOW_PRIVATE_NETWORKS },
  webhookQueue,
  endpointAllowlist: config.CMS_ENDPOINT_ALLOWLIST,
  consoleDir: config.CONSOLE_DIR ?? fileURLToPath(new URL('../../dashboard/dist', import.meta.url)),
});

if (config.FLEET_ADMIN_API_KEY) {
  const stored = storeBootstrapAdminKey(db, config.FLEET_ADMIN_API_KEY, logger).catch((error: unknown) => {
    logger.error('could not store the bootstrap admin api key', { error });
    process.exit(1);
  });
  // Wait briefly so the key works from the first request; if Postgres is down it keeps trying in the background.
  await Promise.race([stored, new Promise((resolve) => setTimeout(resolve, 3000).unref())]);
}

const server: Server = app.listen(config.PORT, config.HOST, () =>
  logger.info('api listening', { port: config.PORT, host: config.HOST }),
);
server.keepAliveTimeout = 65_000;
const closable = trackHttpServer(server);
answerClientErrorsWithProblems(server);

// Past 10 s the process exits anyway (code 1): a client holding a connection open must not keep it alive.
stopOnSignal({
  name: 'api',
  logger,
  deadlineMs: 10_000,
  async stop() {
    // Open event streams end first (their clients reconnect elsewhere with Last-Event-ID): they never finish by
    // themselves, so the server would otherwise wait for them until the deadline.
    clock.stop();
    const streamsStopped = eventStreams.stop();
    await closable.close();
    await streamsStopped;
    // Enqueues of rollouts answered before their jobs were all in Redis; past the deadline the reconciler finishes them.
    if (enqueues.running() > 0)
      logger.info('waiting for rollouts still being enqueued', { rollouts: enqueues.running() });
    // The thread finishes what it was asked (or is terminated after 5 s), which ends the enqueues waiting on it.
    await Promise.all([enqueues.drain(), enqueueThread.stop()]);
    await queueBoard.close();
    await webhookQueue.close();
    // db.close() lets statements still running finish (up to 2 s) and closes what is still out after that: Prisma
    // ended under a write (a key's last use, recorded as a response finishes) never gave its connection back, which
    // held about 1 stop in 8 until the 10 s deadline. Past 3 s the process exits regardless: every request is
    // answered by then and Postgres drops the connections itself.
    const closed = Promise.allSettled([db.close(), redis.quit(), accountClients.close().then(() => cms.close())]);
    const late = await Promise.race([
      closed.then(() => false),
      new Promise<boolean>((resolve) => setTimeout(() => resolve(true), 3000).unref()),
    ]);
    if (late) logger.warn('postgres pool still had a client out 3 s after the last request; exiting without it');
  },
});
