import type { Server } from 'node:http';
import { redactConfig } from '@fleet/config';
import { createDatabase } from '@fleet/db';
import { createLogger } from '@fleet/logger';
import { createRedisConnection } from '@fleet/queue';
import { createApp } from './app.ts';
import { loadApiConfig } from './config.ts';

const config = loadApiConfig(process.env);
const logger = createLogger({ service: 'api', level: config.LOG_LEVEL });
logger.info('starting api', { config: redactConfig(config) });

const db = createDatabase({ url: config.DATABASE_URL, poolMax: config.DB_POOL_MAX, onPoolError: (error) => logger.warn('postgres pool error', { error: error.message }) });
const redis = createRedisConnection(config.REDIS_URL, 'producer', logger);
const app = createApp({
  db,
  redis,
  logger,
  queuePrefix: config.QUEUE_PREFIX,
  maxInstancesPerRollout: config.MAX_INSTANCES_PER_ROLLOUT,
  bodyLimitBytes: config.BODY_LIMIT_BYTES,
});

const server: Server = app.listen(config.PORT, config.HOST, () => logger.info('api listening', { port: config.PORT, host: config.HOST }));
server.keepAliveTimeout = 65_000;

let stopping = false;
async function stop(signal: string): Promise<void> {
  if (stopping) {
    logger.warn('second signal, exiting now', { signal });
    process.exit(1);
  }
  stopping = true;
  logger.info('stopping api', { signal });
  const deadline = setTimeout(() => {
    logger.error('shutdown deadline passed, exiting');
    process.exit(1);
  }, 10_000);
  deadline.unref();
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  await closed;
  await Promise.allSettled([db.$disconnect(), redis.quit()]);
  logger.info('api stopped');
  process.exit(0);
}
process.on('SIGTERM', () => void stop('SIGTERM'));
process.on('SIGINT', () => void stop('SIGINT'));
