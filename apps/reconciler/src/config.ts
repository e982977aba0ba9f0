import { endpointAllowlistEnv } from '@fleet/accounts';
import { checkRedisTopology, cmsClientEnv, encryptionEnv, env, logEnv, parseConfig, storeEnv, z } from '@fleet/config';

export const reconcilerConfigSchema = z
  .object({
    // DATABASE_URL; REDIS_URL, REDIS_SENTINELS with REDIS_SENTINEL_NAME, or REDIS_CLUSTER_NODES (and the passwords);
    // QUEUE_PREFIX.
    ...storeEnv,
    /** Pause between reconcile passes, in ms. */
    RECONCILE_INTERVAL_MS: env.positiveInt(10_000),
    /**
     * A rollout recorded this long ago, in ms, whose enqueue never finished, is enqueued by the reconciler. The API
     * enqueues after its 202 (ENQUEUE_WAIT_MS), some 10 to 15 s for 100,000 instances on two cores: the grace leaves
     * it room, so that the reconciler does not enqueue the same rollout alongside a live API.
     */
    ENQUEUE_GRACE_MS: env.positiveInt(60_000),
    /**
     * An unfinished NodeInstall attempt older than this, in ms, belongs to a dead worker: its instance's lost job is
     * re-enqueued. The workers' CMS_TIMEOUT_MS plus their 5000 ms grace (default 10000 + 5000).
     */
    RECONCILE_STALE_ATTEMPT_MS: env.positiveInt(15_000),
    /** Closed rollouts are still looked after (flags, leftover jobs, verification arming) this long after they end, in ms. */
    RECONCILE_LOOKBACK_MS: env.positiveInt(86_400_000),
    /** Time the agent has to report `running` in NodeStatus after a successful NodeInstall (or a resolved flag), in ms. */
    VERIFY_WINDOW_MS: env.positiveInt(600_000),
    /**
     * Most instances whose agent status is checked per pass (NodeStatusList or DescribeMonitoringAgentStatuses, 50 ids
     * per call).
     */
    VERIFY_BATCH_SIZE: env.positiveInt(5000),
    /**
     * Calls per second per Alibaba account (UserId) without a rate of its own: the workers' value. The verification
     * calls take their starts on the account's schedule in Redis, with the workers' install calls.
     */
    ACCOUNT_RATE_LIMIT_RPS: env.positiveInt(50),
    /** Calls an account may make at once after a quiet spell, without a burst of its own: the workers' value. */
    ACCOUNT_RATE_BURST: env.positiveInt(1),
    /** Idempotency-Key records of POST /v1/rollouts are kept this long, in ms, then deleted (the key may be used again). */
    IDEMPOTENCY_RETENTION_MS: env.positiveInt(86_400_000),
    /** A finished rollout's attempt rows are replaced by a summary this many days after it ended; 0 keeps them forever. */
    ATTEMPT_RETENTION_DAYS: env.nonNegativeInt(90),
    // CMS_ENDPOINT, the AccessKey pair, CMS_TIMEOUT_MS (the deadline of one NodeStatusList call, in ms), CMS_METHOD,
    // CMS_SIGNATURE_VERSION (v1 or v3).
    ...cmsClientEnv,
    // CMS_ENDPOINT_ALLOWLIST: the endpoints an account may use (CMS_ENDPOINT itself always may).
    ...endpointAllowlistEnv,
    // FLEET_ENCRYPTION_KEY (and FLEET_ENCRYPTION_PREVIOUS_KEYS): open the accounts' sealed credentials.
    ...encryptionEnv,
    RECONCILER_ID: env.processId(),
    /** Port of this reconciler's Prometheus endpoint, `GET /metrics` (every interface); 0 turns it off. */
    METRICS_PORT: env.port(9465),
    // LOG_LEVEL, LOG_FORMAT, NO_COLOR.
    ...logEnv,
  })
  .superRefine(checkRedisTopology);

export type ReconcilerConfig = Readonly<z.output<typeof reconcilerConfigSchema>>;

export function loadReconcilerConfig(source: Record<string, string | undefined>): ReconcilerConfig {
  return parseConfig(reconcilerConfigSchema, source);
}
