import { createSlidingSecond } from './sliding-second.ts';

/**
 * Per-account flow control: a sliding one-second window per key (the UserId). A request is admitted while fewer
 * than `qps` admitted requests of the same key fall within the last 1000 ms; refused requests do not use up the
 * window, so a client that backs off gets through again after at most a second.
 */
export type Throttle = {
  /** True when the request must be refused; otherwise records it. `qps` <= 0 turns throttling off. */
  isThrottled(key: string, qps: number, nowMs: number): boolean;
  clear(): void;
};

export function createThrottle(): Throttle {
  const admitted = createSlidingSecond();
  return {
    isThrottled(key, qps, nowMs) {
      if (qps <= 0) return false;
      if (admitted.count(key, nowMs) >= qps) return true;
      admitted.record(key, nowMs);
      return false;
    },
    clear() {
      admitted.clear();
    },
  };
}
