/**
 * Times of events per key within the last second, a sliding window (an event at `t` counts until `t + 1000` ms).
 * What the throttle refuses by and what the stats report the worst of.
 */
export type SlidingSecond = {
  /** Events of `key` within the window ending at `nowMs` (the window (nowMs - 1000, nowMs]). */
  count(key: string, nowMs: number): number;
  /** Records an event of `key` at `nowMs` and answers the window's count with it. Times must not go backwards. */
  record(key: string, nowMs: number): number;
  clear(): void;
};

const WINDOW_MS = 1000;

type Window = { times: number[]; head: number };

export function createSlidingSecond(): SlidingSecond {
  const windows = new Map<string, Window>();
  function windowAt(key: string, nowMs: number): Window {
    let window = windows.get(key);
    if (!window) {
      window = { times: [], head: 0 };
      windows.set(key, window);
    }
    const { times } = window;
    while (window.head < times.length && times[window.head]! <= nowMs - WINDOW_MS) window.head++;
    // Compact now and then instead of shifting on every event.
    if (window.head > 1024 && window.head * 2 > times.length) {
      times.splice(0, window.head);
      window.head = 0;
    }
    return window;
  }
  return {
    count(key, nowMs) {
      const window = windowAt(key, nowMs);
      return window.times.length - window.head;
    },
    record(key, nowMs) {
      const window = windowAt(key, nowMs);
      window.times.push(nowMs);
      return window.times.length - window.head;
    },
    clear() {
      windows.clear();
    },
  };
}
