/**
 * API_KEY_CACHE_MS: an API process trusts a key it found for that long without asking Postgres again. Two real API
 * apps over one database and Redis prefix (as two API processes are): a key revoked through one is refused by that
 * one at once, and by the other once its entry is older than the cache time, not before it (which is what shows the
 * cache is used). The cache itself on plain data with a clock of its own.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApiKeyRecord } from '@fleet/db';
import { waitFor } from '@fleet/testing';
import { createApiKeyCache } from '../src/http/api-key-cache.ts';
import type { ApiHarness } from './support.ts';
import { startApi, USER_ID } from './support.ts';

/** Long enough that the other process's requests right after a revocation fall inside it on a loaded machine. */
const CACHE_MS = 4000;

let first: ApiHarness;
let second: ApiHarness;
beforeAll(async () => {
  first = await startApi({ apiKeyCacheMs: CACHE_MS });
  second = await startApi({ sharedWith: first, apiKeyCacheMs: CACHE_MS });
});
afterAll(async () => {
  await second?.close();
  await first?.close();
});

describe('API_KEY_CACHE_MS across two API processes', () => {
  it('refuses a key revoked through this process at once, and through another within the cache time', async () => {
    const viewer = await first.createKey('viewer', [USER_ID], 'cached viewer');
    // Both processes have looked the key up, so both hold it.
    expect((await first.requestAs(viewer.key, 'GET', '/v1/me')).status).toBe(200);
    expect((await second.requestAs(viewer.key, 'GET', '/v1/me')).status).toBe(200);

    const revokedAtMs = Date.now();
    expect((await first.request('DELETE', `/v1/api-keys/${viewer.id}`)).status).toBe(204);
    expect((await first.requestAs(viewer.key, 'GET', '/v1/me')).status).toBe(401);
    // The other process answers from its cache: the revoked key still works there for now.
    const meanwhile = await second.requestAs(viewer.key, 'GET', '/v1/me');
    if (Date.now() - revokedAtMs < CACHE_MS) expect(meanwhile.status).toBe(200);

    await waitFor('the other process to refuse the revoked key', async () => {
      return (await second.requestAs(viewer.key, 'GET', '/v1/me')).status === 401;
    });
    expect(Date.now() - revokedAtMs).toBeGreaterThanOrEqual(CACHE_MS - 1000);
  });
});

describe('createApiKeyCache', () => {
  const record = (id: string): ApiKeyRecord => ({
    id,
    name: id,
    keyPrefix: 'flt_abcdefgh',
    role: 'viewer',
    userIds: [USER_ID],
    allAccounts: false,
    createdAt: new Date(0),
    createdById: null,
    revokedAt: null,
    lastUsedAt: null,
  });

  it('keeps an entry for ttlMs after it was read, then forgets it', () => {
    let now = 1000;
    const cache = createApiKeyCache({ ttlMs: 500, nowMs: () => now });
    cache.set('h1', record('k1'));
    now += 499;
    expect(cache.get('h1')?.id).toBe('k1');
    now += 1;
    expect(cache.get('h1')).toBeUndefined();
  });

  it('forgets a key by id, whatever hash it was found under', () => {
    const cache = createApiKeyCache({ ttlMs: 60_000 });
    cache.set('h1', record('k1'));
    cache.set('h2', record('k2'));
    cache.forget('k1');
    expect(cache.get('h1')).toBeUndefined();
    expect(cache.get('h2')?.id).toBe('k2');
  });

  it('holds at most maxEntries, dropping the oldest read first', () => {
    const cache = createApiKeyCache({ ttlMs: 60_000, maxEntries: 2 });
    cache.set('h1', record('k1'));
    cache.set('h2', record('k2'));
    cache.set('h1', record('k1'));
    cache.set('h3', record('k3'));
    expect(cache.get('h2')).toBeUndefined();
    expect(cache.get('h1')?.id).toBe('k1');
    expect(cache.get('h3')?.id).toBe('k3');
  });

  it('keeps nothing with ttlMs 0', () => {
    const cache = createApiKeyCache({ ttlMs: 0 });
    cache.set('h1', record('k1'));
    expect(cache.get('h1')).toBeUndefined();
  });
});
