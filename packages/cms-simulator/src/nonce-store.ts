/**
 * SignatureNonce replay protection: a nonce seen within the window is refused. Bounded in memory: entries expire
 * after the window, and beyond `capacity` the oldest are dropped (a replay older than the newest `capacity` requests
 * then slips through, which is acceptable for a simulator and keeps a long load test from growing without limit).
 *
 * No timers: expiry happens lazily on insert, so nothing is left running after the server stops.
 */
export type NonceStore = {
  /** True when `nonce` was already used within the window; otherwise records it and returns false. */
  checkAndRemember(nonce: string, nowMs: number): boolean;
  clear(): void;
  readonly size: number;
};

export function createNonceStore(windowMs: number, capacity: number): NonceStore {
  // Insertion order is arrival order, so the oldest entries sit at the front of the Map.
  const expiries = new Map<string, number>();

  const prune = (nowMs: number) => {
    for (const [nonce, expiresAt] of expiries) {
      if (expiresAt > nowMs && expiries.size <= capacity) break;
      expiries.delete(nonce);
    }
  };

  return {
    checkAndRemember(nonce, nowMs) {
      const expiresAt = expiries.get(nonce);
      if (expiresAt !== undefined && expiresAt > nowMs) return true;
      expiries.delete(nonce);
      expiries.set(nonce, nowMs + windowMs);
      prune(nowMs);
      return false;
    },
    clear() {
      expiries.clear();
    },
    get size() {
      return expiries.size;
    },
  };
}
