import { hostname } from 'node:os';
import { LOCAL_DEFAULTS, env, parseConfig, z } from '@fleet/config';

export const reconcilerConfigSchema = z.object({
  DATABASE_URL: env.url(LOCAL_DEFAULTS.databaseUrl),
  REDIS_URL: env.url(LOCAL_DEFAULTS.redisUrl),
  QUEUE_PREFIX: z.string().regex(/^[A-Za-z0-9_-]+$/).default('fleet'),
  /** Pause between reconcile passes, in ms. */
  RECONCILE_INTERVAL_MS: env.positiveInt(10_000),
  /** A rollout recorded this long ago, in ms, whose enqueue never finished, is enqueued by the reconciler. */
  ENQUEUE_GRACE_MS: env.positiveInt(15_000),
  RECONCILER_ID: z.string().min(1).default(`${hostname()}-${process.pid}`),
  LOG_LEVEL: env.logLevel(),
});

export type ReconcilerConfig = Readonly<z.output<typeof reconcilerConfigSchema>>;

export function loadReconcilerConfig(source: Record<string, string | undefined>): ReconcilerConfig {
  return parseConfig(reconcilerConfigSchema, source);
}
