/**
 * Runs `check(key)` after requests, sparingly: per key at most one check runs at a time, and a request made while
 * one runs is answered by one more check after it, which starts no sooner than `intervalMs` after the previous
 * start. A request while nothing runs or waits is checked at once.
 *
 * Timers only, no clock: "intervalMs since the last start" is a timer started with the check, so an injected clock
 * (which timers do not follow) cannot hold checks back or let them crowd.
 */
export type TrailingChecks = { request(key: string): void };

type KeyState = { requested: boolean; running: boolean; cooldown: NodeJS.Timeout | null };

export function createTrailingChecks(
  check: (key: string) => Promise<void>,
  intervalMs: number,
  onError: (key: string, error: unknown) => void,
): TrailingChecks {
  const states = new Map<string, KeyState>();

  function pump(key: string): void {
    const state = states.get(key);
    if (!state || state.running) return;
    if (!state.requested) {
      if (state.cooldown) clearTimeout(state.cooldown);
      states.delete(key);
      return;
    }
    if (state.cooldown) return; // the cooldown's end pumps again
    state.requested = false;
    state.running = true;
    state.cooldown = setTimeout(() => {
      state.cooldown = null;
      pump(key);
    }, intervalMs);
    state.cooldown.unref();
    check(key)
      .catch((error: unknown) => onError(key, error))
      .finally(() => {
        state.running = false;
        pump(key);
      });
  }

  return {
    request(key) {
      const state = states.get(key) ?? { requested: false, running: false, cooldown: null };
      states.set(key, state);
      state.requested = true;
      pump(key);
    },
  };
}
