/**
 * Every Redis key the limits keep, under the deployment's prefix (QUEUE_PREFIX). One module names them all because
 * they cross processes: workers publish the configuration that the API reads, every worker's Lua scripts must name
 * the same slots and buckets, and the API reads an account's adapted rate. Nothing outside this package builds a
 * `limits` key.
 *
 * Every one carries the hash tag `{limits}`, so on a Redis Cluster they all hash to one slot: the call admission
 * script (call-admission.ts) takes an account's schedule and the global cap's three keys in one atomic step, and
 * accounts are any number, so no finer tag keeps that script in one slot. The cost is that one node carries the
 * limits of the whole deployment (a few small keys and two scripts per call), while the queues, the bulk of the
 * keys and commands, spread by rollout (names.ts in @fleet/queue). The tag follows the prefix, so the keys still
 * start with it; deployments sharing a cluster share the slot too.
 */
const LIMITS = '{limits}';

/** Hash of the limits the workers were configured with (see limits-config.ts). */
export function limitsConfigKey(prefix: string): string {
  return `${prefix}:${LIMITS}:config`;
}

/** Hash of one account's call schedule (GCRA `tat`, the queue tail of calls sent back) and adapted rate (see account-rate-limiter.ts). */
export function accountRateKey(prefix: string, userId: string): string {
  return `${prefix}:${LIMITS}:account:${userId}`;
}

/** The global cap's sorted set of slot leases, its hash of holders, and its set of refused rollouts. */
export function globalSlotKeys(prefix: string): readonly [slots: string, holders: string, denied: string] {
  return [
    `${prefix}:${LIMITS}:global:slots`,
    `${prefix}:${LIMITS}:global:holders`,
    `${prefix}:${LIMITS}:global:denied`,
  ];
}

/**
 * Present while the global cap's slots are whole: set when a deployment's limits are first made or rebuilt after
 * Redis lost them (limits-recovery.ts). Admissions that require it take no slot while it is missing.
 */
export function limitsEpochKey(prefix: string): string {
  return `${prefix}:${LIMITS}:epoch`;
}

/** Held by the one process rebuilding the limits after a loss (limits-recovery.ts). */
export function limitsRecoveryLockKey(prefix: string): string {
  return `${prefix}:${LIMITS}:recovering`;
}
