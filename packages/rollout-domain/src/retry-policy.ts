/**
 * The one retry-policy module: how long to wait before the next NodeInstall attempt of an instance.
 * Only outcomes the client classified as transient ever reach here; permanent ones never retry.
 */

export type RetryPolicy = {
  /** Most NodeInstall calls per instance, the first included. Default 4. */
  maxAttempts: number;
  /** Delay before the second attempt, in ms; doubles per attempt. Default 1000. */
  baseDelayMs: number;
  /** Upper bound of any delay, in ms. Default 60000. */
  maxDelayMs: number;
};

export const DEFAULT_RETRY_POLICY: Readonly<RetryPolicy> = Object.freeze({
  maxAttempts: 4,
  baseDelayMs: 1000,
  maxDelayMs: 60_000,
});

/** Throttling answers back off harder than other transient failures: the account, not the instance, is the problem. */
export const THROTTLE_DELAY_FACTOR = 4;

export type RetryReason = 'transient' | 'throttled';

/**
 * Exponential backoff with "equal jitter": half the exponential step is kept, the other half is random, so retries
 * of many instances spread out while each still waits a predictable minimum. `attemptNo` is the attempt that just
 * failed (1-based); `random` returns [0, 1).
 */
export function retryDelayMs(
  policy: RetryPolicy,
  attemptNo: number,
  reason: RetryReason,
  random: () => number = Math.random,
): number {
  const factor = reason === 'throttled' ? THROTTLE_DELAY_FACTOR : 1;
  const exponential = Math.min(policy.maxDelayMs, policy.baseDelayMs * factor * 2 ** Math.max(0, attemptNo - 1));
  const half = exponential / 2;
  return Math.round(half + random() * half);
}
