/**
 * Active API keys this process has looked up lately, by the SHA-256 of the key (never the key itself), so that a
 * poller asking every second does not cost a Postgres round trip for its key on each request (a round trip costs the
 * API and Postgres more CPU than the row: docs/performance.md, reads under pollers).
 *
 * Only found keys are kept (an unknown or revoked key is looked up every time, so guessing keys cannot fill the
 * cache), each for at most `ttlMs` after it was read, at most `maxEntries` of them (the oldest read goes first).
 * A key revoked through this process is forgotten at once (`forget`); one revoked through another API process is
 * refused here once its entry is older than `ttlMs`: that is the bound API_KEY_CACHE_MS documents. A key's record
 * changes in no other way (role, accounts and name are fixed at creation).
 */
import type { ApiKeyRecord } from '@fleet/db';

export type ApiKeyCache = {
  /** The record read for `keyHash` less than ttlMs ago, if any. */
  get(keyHash: string): ApiKeyRecord | undefined;
  set(keyHash: string, record: ApiKeyRecord): void;
  /** Forgets the key with this id (it was just revoked). */
  forget(keyId: string): void;
};

export type ApiKeyCacheOptions = {
  /** How long a looked-up key is trusted without asking Postgres again, in ms; 0 turns the cache off. */
  ttlMs: number;
  /** Most keys kept at once. Default 10,000. */
  maxEntries?: number;
  /** The clock, in ms (tests). Default Date.now. */
  nowMs?: () => number;
};

const DEFAULT_MAX_ENTRIES = 10_000;

export function createApiKeyCache(options: ApiKeyCacheOptions): ApiKeyCache {
  const { ttlMs } = options;
  const maxEntries = options.maxEntries ?? DEFAULT_MAX_ENTRIES;
  const nowMs = options.nowMs ?? Date.now;
  // Map keeps insertion order: the first entry is the oldest read, the one to drop when full.
  const entries = new Map<string, { record: ApiKeyRecord; readAtMs: number }>();
  return {
    get(keyHash) {
      if (ttlMs === 0) return undefined;
      const entry = entries.get(keyHash);
      if (!entry) return undefined;
      if (nowMs() - entry.readAtMs >= ttlMs) {
        entries.delete(keyHash);
        return undefined;
      }
      return entry.record;
    },
    set(keyHash, record) {
      if (ttlMs === 0) return;
      entries.delete(keyHash);
      entries.set(keyHash, { record, readAtMs: nowMs() });
      while (entries.size > maxEntries) entries.delete(entries.keys().next().value!);
    },
    forget(keyId) {
      for (const [hash, entry] of entries) if (entry.record.id === keyId) entries.delete(hash);
    },
  };
}
