import { endpointAllowlistEnv } from '@fleet/accounts';
import {
  LOCAL_DEFAULTS,
  checkRedisTopology,
  cmsClientEnv,
  encryptionEnv,
  env,
  parseConfig,
  z,
  redisEnv,
  webhookEnv,
} from '@fleet/config';

export const apiConfigSchema = z
  .object({
    PORT: env.port(LOCAL_DEFAULTS.apiPort),
    /** Interface to listen on. */
    HOST: z.string().default('0.0.0.0'),
    DATABASE_URL: env.url(LOCAL_DEFAULTS.databaseUrl),
    // REDIS_URL, REDIS_SENTINELS with REDIS_SENTINEL_NAME, or REDIS_CLUSTER_NODES (and the passwords): see redisEnv.
    ...redisEnv,
    // FLEET_ENCRYPTION_KEY (and FLEET_ENCRYPTION_PREVIOUS_KEYS): seal accounts' credentials and webhook secrets, and
    // open credentials for a dry run's pre-check; unset, they are refused (503 encryption_not_configured).
    ...encryptionEnv,
    // CMS_ENDPOINT_ALLOWLIST: the endpoints an account may be given (422 for another) and a pre-check may call.
    ...endpointAllowlistEnv,
    /** BullMQ key prefix; every app of one deployment must use the same. */
    QUEUE_PREFIX: z
      .string()
      .regex(/^[A-Za-z0-9_-]+$/)
      .default('fleet'),
    // CloudMonitor, for a dry run's pre-check (NodeStatusList): CMS_ENDPOINT, the AccessKey pair, CMS_TIMEOUT_MS, CMS_METHOD.
    ...cmsClientEnv,
    /** Most instances in one rollout (after de-duplication). */
    MAX_INSTANCES_PER_ROLLOUT: env.positiveInt(100_000),
    /** Largest accepted request body, in bytes. 100,000 instance ids of 22 characters take about 2.7 MB. */
    BODY_LIMIT_BYTES: env.positiveInt(8 * 1024 * 1024),
    DB_POOL_MAX: env.positiveInt(10),
    /**
     * The first admin key: stored (hashed) at start as an admin key for every account. Unset: no bootstrap key (make
     * keys with `npm run create-api-key`). 32 to 512 RFC 6750 token characters; an empty value counts as unset.
     */
    FLEET_ADMIN_API_KEY: z.preprocess(
      (v) => (v === '' ? undefined : v),
      z
        .string()
        .regex(
          /^[A-Za-z0-9._~+/=-]{32,512}$/,
          'must be 32 to 512 characters of A-Z a-z 0-9 . _ ~ + / = - (e.g. the output of `openssl rand -base64 32`)',
        )
        .optional(),
    ),
    /**
     * How long POST /v1/rollouts (and a retry) waits for the new rollout's jobs to be in Redis before answering 202, in
     * ms. A rollout enqueued by then is answered `enqueued: true`; a larger one `enqueued: false`, its enqueue going on
     * in the background (GET shows `enqueued` when it is done). 0: answer as soon as the rollout is recorded.
     */
    ENQUEUE_WAIT_MS: env.nonNegativeInt(1000),
    /** Requests per API key per minute (a fixed window kept in Redis, shared by every API process); 0 turns it off. */
    API_RATE_LIMIT_PER_MINUTE: env.nonNegativeInt(600),
    /**
     * How long a found API key is trusted without asking Postgres again, in ms (http/api-key-cache.ts): pollers then
     * cost no round trip for their key. A key revoked through this process is refused at once; through another API
     * process, here at most this long after. 0 turns the cache off.
     */
    API_KEY_CACHE_MS: env.nonNegativeInt(5000),
    /**
     * When set, `GET /metrics` needs `Authorization: Bearer <METRICS_TOKEN>` (compared in constant time). Unset or
     * empty: anyone who reaches the API may scrape it. A secret: masked in the logged config.
     */
    METRICS_TOKEN: z.preprocess(
      (v) => (v === '' ? undefined : v),
      z.string().min(16, 'expected at least 16 characters').optional(),
    ),
    // WEBHOOK_ALLOW_PRIVATE_NETWORKS: which addresses a webhook URL may resolve to.
    ...webhookEnv,
    /**
     * The web console's build, served at `/`: a folder with index.html and assets/ (what `npm run build --workspace
     * @fleet/dashboard` writes). Unset: apps/dashboard/dist of this checkout. A folder without index.html answers 503
     * `console_not_built` at `/`; the API itself works on.
     */
    CONSOLE_DIR: z.preprocess((v) => (v === '' ? undefined : v), z.string().optional()),
    LOG_LEVEL: env.logLevel(),
    /** `json` or `pretty` log lines; unset: pretty when stdout is a terminal, else JSON (`fleet up` sets it for its apps). */
    LOG_FORMAT: env.logFormat(),
    /** Set (to anything but the empty string): no colours in pretty log lines. */
    NO_COLOR: env.noColor(),
  })
  .superRefine(checkRedisTopology);

export type ApiConfig = Readonly<z.output<typeof apiConfigSchema>>;

export function loadApiConfig(source: Record<string, string | undefined>): ApiConfig {
  return parseConfig(apiConfigSchema, source);
}
