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

const WINDOW_MS = 1000;

type Window = { times: number[]; head: number };

export function createThrottle(): Throttle {
  const windows = new Map<string, Window>();
  return {
    isThrottled(key, qps, nowMs) {
      if (qps <= 0) return false;
      let window = windows.get(key);
      if (!window) {
        window = { times: [], head: 0 };
        windows.set(key, window);
      }
      const { times } = window;
      while (window.head < times.length && times[window.head]! <= nowMs - WINDOW_MS) window.head++;
      // Compact now and then instead of shifting on every request.
      if (window.head > 1024 && window.head * 2 > times.length) {
        times.splice(0, window.head);
        window.head = 0;
      }
      if (times.length - window.head >= qps) return true;
      times.push(nowMs);
      return false;
    },
    clear() {
      windows.clear();
    },
  };
}
