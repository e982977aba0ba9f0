import { z } from 'zod';
import { env } from './env-fields.ts';
import { LOCAL_DEFAULTS, redisEnv } from './local-defaults.ts';

/**
 * Where the rollouts' state is, spelled the same in every app that works on it (worker, reconciler, notifier):
 * Postgres, Redis (redisEnv: REDIS_URL, REDIS_SENTINELS with REDIS_SENTINEL_NAME, or REDIS_CLUSTER_NODES, and the
 * passwords; refine the app's schema with checkRedisTopology) and the prefix of every Redis key.
 */
export const storeEnv = {
  DATABASE_URL: env.url(LOCAL_DEFAULTS.databaseUrl),
  ...redisEnv,
  /** Prefix of every Redis key (letters, digits, `_`, `-`): the same in every app of one deployment. Default `fleet`. */
  QUEUE_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_-]+$/)
    .default('fleet'),
};

/** How an app logs, spelled the same in every app that runs on its own. */
export const logEnv = {
  LOG_LEVEL: env.logLevel(),
  /** `json` or `pretty` log lines; unset: pretty when stdout is a terminal, else JSON (`fleet up` sets it for its apps). */
  LOG_FORMAT: env.logFormat(),
  /** Set (to anything but the empty string): no colours in pretty log lines. */
  NO_COLOR: env.noColor(),
};
