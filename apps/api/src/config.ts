import { LOCAL_DEFAULTS, env, parseConfig, z } from '@fleet/config';

export const apiConfigSchema = z.object({
  PORT: env.port(3000),
  /** Interface to listen on. */
  HOST: z.string().default('0.0.0.0'),
  DATABASE_URL: env.url(LOCAL_DEFAULTS.databaseUrl),
  REDIS_URL: env.url(LOCAL_DEFAULTS.redisUrl),
  /** BullMQ key prefix; every app of one deployment must use the same. */
  QUEUE_PREFIX: z.string().regex(/^[A-Za-z0-9_-]+$/).default('fleet'),
  /** Most instances in one rollout (after de-duplication). */
  MAX_INSTANCES_PER_ROLLOUT: env.positiveInt(100_000),
  /** Largest accepted request body, in bytes. 100,000 instance ids of 22 characters take about 2.7 MB. */
  BODY_LIMIT_BYTES: env.positiveInt(8 * 1024 * 1024),
  DB_POOL_MAX: env.positiveInt(10),
  LOG_LEVEL: env.logLevel(),
});

export type ApiConfig = Readonly<z.output<typeof apiConfigSchema>>;

export function loadApiConfig(source: Record<string, string | undefined>): ApiConfig {
  return parseConfig(apiConfigSchema, source);
}
