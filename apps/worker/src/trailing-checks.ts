/**
 * Runs `check(key)` after requests, sparingly: per key at most one check runs at a time, and a request made while
 * one runs is answered by one more check after it, which starts no sooner than `intervalMs` after the previous
 * start. A request while nothing runs or waits is checked at once. A check may answer a longer wait for its key (ms
 * from its start): the next check of that key, if one is requested, starts no sooner than that.
 *
 * Timers only, no clock: "intervalMs since the last start" is a timer started with the check, so an injected clock
 * (which timers do not follow) cannot hold checks back or let them crowd.
 */
export type TrailingChecks = { request(key: string): void };

/**
 * `cooldown`: the interval since the running (or last) check's start, which holds back only requests made during
 * the check. `hold`: a longer wait the last check answered, which holds back every request until it ends.
 */
type KeyState = {
  requested: boolean;
  running: boolean;
  cooldown: NodeJS.Timeout | null;
  hold: NodeJS.Timeout | null;
};

export function createTrailingChecks(
  check: (key: string) => Promise<number | void>,
  intervalMs: number,
  onError: (key: string, error: unknown) => void,
): TrailingChecks {
  const states = new Map<string, KeyState>();

  function timer(ms: number, clear: (state: KeyState) => void, state: KeyState, key: string): NodeJS.Timeout {
    const t = setTimeout(() => {
      clear(state);
      pump(key);
    }, ms);
    t.unref();
    return t;
  }

  function pump(key: string): void {
    const state = states.get(key);
    if (!state || state.running || state.hold) return; // a hold's end pumps again
    if (!state.requested) {
      if (state.cooldown) clearTimeout(state.cooldown);
      states.delete(key);
      return;
    }
    if (state.cooldown) return; // the cooldown's end pumps again
    state.requested = false;
    state.running = true;
    state.cooldown = timer(intervalMs, (s) => (s.cooldown = null), state, key);
    const startedAt = performance.now();
    check(key)
      .then((waitMs) => {
        const left = typeof waitMs === 'number' ? waitMs - (performance.now() - startedAt) : 0;
        if (left > 0) state.hold = timer(left, (s) => (s.hold = null), state, key);
      })
      .catch((error: unknown) => onError(key, error))
      .finally(() => {
        state.running = false;
        pump(key);
      });
  }

  return {
    request(key) {
      const state = states.get(key) ?? { requested: false, running: false, cooldown: null, hold: null };
      states.set(key, state);
      state.requested = true;
      pump(key);
    },
  };
}
