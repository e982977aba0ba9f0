/**
 * Every Redis key the limits keep, under the deployment's prefix (QUEUE_PREFIX). One module names them all because
 * they cross processes: workers publish the configuration that the API reads, every worker's Lua scripts must name
 * the same slots and buckets, and the API reads an account's adapted rate. Nothing outside this package builds a
 * `limits:*` key.
 */

/** Hash of the limits the workers were configured with (see limits-config.ts). */
export function limitsConfigKey(prefix: string): string {
  return `${prefix}:limits:config`;
}

/** Hash of one account's call schedule (GCRA `tat`, the queue tail of calls sent back) and adapted rate (see account-rate-limiter.ts). */
export function accountRateKey(prefix: string, userId: string): string {
  return `${prefix}:limits:account:${userId}`;
}

/** The global cap's sorted set of slot leases, its hash of holders, and its set of refused rollouts. */
export function globalSlotKeys(prefix: string): readonly [slots: string, holders: string, denied: string] {
  return [`${prefix}:limits:global:slots`, `${prefix}:limits:global:holders`, `${prefix}:limits:global:denied`];
}
