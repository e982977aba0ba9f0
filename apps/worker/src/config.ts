import { endpointAllowlistEnv } from '@fleet/accounts';
import { checkRedisTopology, cmsClientEnv, encryptionEnv, env, logEnv, parseConfig, storeEnv, z } from '@fleet/config';

export const workerConfigSchema = z
  .object({
    // DATABASE_URL; REDIS_URL, REDIS_SENTINELS with REDIS_SENTINEL_NAME, or REDIS_CLUSTER_NODES (and the passwords);
    // QUEUE_PREFIX.
    ...storeEnv,
    // CMS_ENDPOINT, the AccessKey pair, CMS_TIMEOUT_MS (the deadline of one NodeInstall call, in ms), CMS_METHOD,
    // CMS_SIGNATURE_VERSION (v1 or v3).
    ...cmsClientEnv,
    // CMS_ENDPOINT_ALLOWLIST: the endpoints an account may use (CMS_ENDPOINT itself always may).
    ...endpointAllowlistEnv,
    // FLEET_ENCRYPTION_KEY (and FLEET_ENCRYPTION_PREVIOUS_KEYS): open the accounts' sealed credentials.
    ...encryptionEnv,
    /**
     * How long an account's settings (credentials, endpoint, limits) are used before they are read again, in ms: a
     * rotation or a new limit reaches this worker within about this long, without a restart.
     */
    ACCOUNT_REFRESH_MS: env.positiveInt(1000),
    /** Most install jobs of one rollout this process runs at once (the rollout's own concurrency applies across processes). */
    WORKER_CONCURRENCY: env.positiveInt(200),
    /** Most NodeInstall calls in flight across all rollouts and all worker processes. Give every worker the same value. */
    GLOBAL_CONCURRENCY: env.positiveInt(500),
    /** NodeInstall calls per second per Alibaba account (UserId), across all workers; adapts down on throttling. */
    ACCOUNT_RATE_LIMIT_RPS: env.positiveInt(50),
    /** Calls an account may make at once after a quiet spell (the schedule's tolerance, in calls). */
    ACCOUNT_RATE_BURST: env.positiveInt(1),
    /**
     * Longest a job waits in the worker for its call's reserved start, in ms; a call further from its start reserves
     * nothing and is held until it would be half this away, then admitted again. Also the most of an account's quota that unused reservations can
     * cost (jobs paused or cancelled during their wait, a worker that dies). 0: only calls that may start at once.
     */
    ACCOUNT_RATE_MAX_WAIT_MS: env.nonNegativeInt(1000),
    /**
     * Nice value of the thread that sends the calls at their starts (-20 to 19; Linux, where a thread has its own).
     * Below the process's, the thread gets a core when its timer fires before this process's jobs and the host's other
     * processes do, so fewer calls miss their starts on a crowded host (at -10: half as many, docs/performance.md).
     * Raising it takes CAP_SYS_NICE (containers: add the capability); refused, the thread runs at the process's
     * priority and the worker says so at its start. Unset: DEFAULT_SEND_THREAD_NICE (-10) where the process may raise
     * it, else the process's; 0 keeps the usual priority.
     */
    SEND_THREAD_NICE: env.nice(),
    /** How often the process looks for rollouts to work on, in ms. */
    ROLLOUT_POLL_MS: env.positiveInt(1000),
    /** BullMQ lock of an active job, in ms: a job whose worker stops renewing it is handed to another after this. */
    LOCK_DURATION_MS: env.positiveInt(30_000),
    /** How long stop() waits for running calls before releasing them, in ms. */
    SHUTDOWN_TIMEOUT_MS: env.positiveInt(30_000),
    WORKER_ID: env.processId(),
    DB_POOL_MAX: env.positiveInt(20),
    /** Port of this worker's Prometheus endpoint, `GET /metrics` (every interface); 0 turns it off. */
    METRICS_PORT: env.port(9464),
    // LOG_LEVEL, LOG_FORMAT, NO_COLOR.
    ...logEnv,
  })
  .superRefine(checkRedisTopology);

export type WorkerConfig = Readonly<z.output<typeof workerConfigSchema>>;

export function loadWorkerConfig(source: Record<string, string | undefined>): WorkerConfig {
  return parseConfig(workerConfigSchema, source);
}
