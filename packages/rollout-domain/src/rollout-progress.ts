/** Progress of a rollout: how far, how fast over the last window, and when it will be done at that pace. Pure. */

export type RolloutProgress = {
  /** Instances in a final state (succeeded, failed, cancelled). */
  done: number;
  total: number;
  /** done / total, 0..1 (1 for an empty rollout). */
  fraction: number;
  /** Instances that reached a final state per second, over the last `windowSeconds`. */
  ratePerSecond: number;
  windowSeconds: number;
  /** Seconds until every instance is final at the current rate; 0 when done, null when nothing moved in the window. */
  etaSeconds: number | null;
  /** ISO time of `etaSeconds` from `now`; null when unknown. */
  etaAt: string | null;
};

export function computeProgress(input: {
  done: number;
  total: number;
  finishedInWindow: number;
  windowSeconds: number;
  now: Date;
}): RolloutProgress {
  const remaining = Math.max(0, input.total - input.done);
  const rate = input.windowSeconds > 0 ? input.finishedInWindow / input.windowSeconds : 0;
  const etaSeconds = remaining === 0 ? 0 : rate > 0 ? Math.ceil(remaining / rate) : null;
  return {
    done: input.done,
    total: input.total,
    fraction: input.total === 0 ? 1 : Math.round((input.done / input.total) * 10_000) / 10_000,
    ratePerSecond: Math.round(rate * 100) / 100,
    windowSeconds: input.windowSeconds,
    etaSeconds,
    etaAt: etaSeconds === null ? null : new Date(input.now.getTime() + etaSeconds * 1000).toISOString(),
  };
}
