import {
  LOCAL_DEFAULTS,
  checkRedisTopology,
  encryptionEnv,
  env,
  logEnv,
  parseConfig,
  storeEnv,
  webhookEnv,
  z,
} from '@fleet/config';
import { DEFAULT_RETRY_DELAYS_MS } from '@fleet/webhooks';

/** A comma-separated list of delays in ms, each at least 1. */
const delayList = (fallback: readonly number[]) =>
  z
    .string()
    .default(fallback.join(','))
    .transform((value, context) => {
      const delays = value.split(',').map((part) => Number(part.trim()));
      if (delays.length === 0 || delays.some((d) => !Number.isInteger(d) || d < 1)) {
        context.addIssue({
          code: 'custom',
          message: 'expected a comma-separated list of whole milliseconds, each >= 1',
        });
        return z.NEVER;
      }
      return delays;
    });

export const notifierConfigSchema = z
  .object({
    // DATABASE_URL; REDIS_URL, REDIS_SENTINELS with REDIS_SENTINEL_NAME, or REDIS_CLUSTER_NODES (and the passwords);
    // QUEUE_PREFIX.
    ...storeEnv,
    // FLEET_ENCRYPTION_KEY (opens the subscriptions' secrets) and FLEET_ENCRYPTION_PREVIOUS_KEYS.
    ...encryptionEnv,
    // WEBHOOK_ALLOW_PRIVATE_NETWORKS, shared with the API.
    ...webhookEnv,
    /** Where people reach the API, for the rollout links in chat notifications (e.g. https://fleet.example.com). */
    PUBLIC_BASE_URL: env.url(`http://127.0.0.1:${LOCAL_DEFAULTS.apiPort}`),
    /** Attempts this process makes at once. */
    WEBHOOK_CONCURRENCY: env.positiveInt(16),
    /** Deadline of one attempt (connect, send, answer), in ms. */
    WEBHOOK_TIMEOUT_MS: env.positiveInt(15_000),
    /** Delays after each failed attempt, in ms; after the last the message is given up. Default Svix's schedule. */
    WEBHOOK_RETRY_DELAYS_MS: delayList(DEFAULT_RETRY_DELAYS_MS),
    /** A subscription whose attempts have all failed for this long, in ms, is disabled (webhook.disabled). 5 days. */
    WEBHOOK_DISABLE_AFTER_MS: env.positiveInt(5 * 24 * 3_600_000),
    /** How often pending deliveries are looked for in Postgres and handed to the queue again, in ms. */
    WEBHOOK_REDRIVE_INTERVAL_MS: env.positiveInt(10_000),
    NOTIFIER_ID: env.processId(),
    // LOG_LEVEL, LOG_FORMAT, NO_COLOR.
    ...logEnv,
  })
  .superRefine(checkRedisTopology);

export type NotifierConfig = Readonly<z.output<typeof notifierConfigSchema>>;

export function loadNotifierConfig(source: Record<string, string | undefined>): NotifierConfig {
  return parseConfig(notifierConfigSchema, source);
}
