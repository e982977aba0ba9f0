/** Progress of a rollout: how far, how fast over the last window, and when it will be done at that pace. Pure. */
import { assertNever } from '@fleet/errors';
import type { RolloutStatus } from './states.ts';

export type RolloutProgress = {
  /** Instances in a final state (succeeded, failed, cancelled). */
  done: number;
  total: number;
  /** done / total, 0..1 (1 for an empty rollout). */
  fraction: number;
  /**
   * Instances that reached a final state per second, over the last `windowSeconds`; null once the rollout is over
   * (completed or cancelled): nothing is left to measure.
   */
  ratePerSecond: number | null;
  /** Seconds the rate is measured over (0.1 s steps): the last minute, or the rollout's age while it is younger. */
  windowSeconds: number;
  /**
   * Seconds until every instance is final at the current rate: 0 when all are final, null when nothing moved in
   * the window, while the rollout is paused (nothing starts) and once it is over.
   */
  etaSeconds: number | null;
  /** ISO time of `etaSeconds` from `now`; null when `etaSeconds` is. */
  etaAt: string | null;
};

export function computeProgress(input: {
  done: number;
  total: number;
  finishedInWindow: number;
  /** Seconds `finishedInWindow` was counted over (exact; shown rounded to 0.1 s). */
  windowSeconds: number;
  status: RolloutStatus;
  now: Date;
}): RolloutProgress {
  const remaining = Math.max(0, input.total - input.done);
  const rate = input.windowSeconds > 0 ? input.finishedInWindow / input.windowSeconds : 0;
  let ratePerSecond: number | null;
  let etaSeconds: number | null;
  switch (input.status) {
    case 'running':
      ratePerSecond = Math.round(rate * 100) / 100;
      etaSeconds = remaining === 0 ? 0 : rate > 0 ? Math.ceil(remaining / rate) : null;
      break;
    case 'paused':
    case 'scheduled':
    case 'waiting_for_window':
      // Calls in flight still finish (the rate says so), but no new one starts: no time at which it would be done.
      // (A schedule's next window could give one; the ETA says only what the current pace gives.)
      ratePerSecond = Math.round(rate * 100) / 100;
      etaSeconds = null;
      break;
    case 'completed':
    case 'cancelled':
      ratePerSecond = null;
      etaSeconds = null;
      break;
    default:
      return assertNever(input.status, 'rollout status');
  }
  return {
    done: input.done,
    total: input.total,
    fraction: input.total === 0 ? 1 : Math.round((input.done / input.total) * 10_000) / 10_000,
    ratePerSecond,
    windowSeconds: Math.round(input.windowSeconds * 10) / 10,
    etaSeconds,
    etaAt: etaSeconds === null ? null : new Date(input.now.getTime() + etaSeconds * 1000).toISOString(),
  };
}
