import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApiHarness } from './support.ts';
import { startApi, USER_ID } from './support.ts';

const LIMIT = 5;

let api: ApiHarness;
let second: ApiHarness;
beforeAll(async () => {
  // A long window, so a test never straddles two windows by accident.
  api = await startApi({ rateLimit: { limit: LIMIT, windowMs: 3_600_000 } });
  second = await startApi({ rateLimit: { limit: LIMIT, windowMs: 3_600_000 }, sharedWith: api });
});
afterAll(async () => {
  await second.close();
  await api.close();
});

describe('rate limit per API key', () => {
  it('answers 429 problem+json with Retry-After once a key has used its window, and RateLimit headers throughout', async () => {
    const { key } = await api.createKey('viewer', [USER_ID]);
    for (let i = 1; i <= LIMIT; i++) {
      const res = await api.requestAs(key, 'GET', '/v1/rollouts');
      expect(res.status).toBe(200);
      expect(res.headers.get('ratelimit-limit')).toBe(String(LIMIT));
      expect(res.headers.get('ratelimit-remaining')).toBe(String(LIMIT - i));
    }
    const refused = await api.requestAs(key, 'GET', '/v1/rollouts');
    expect(refused.status).toBe(429);
    expect(refused.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(refused.body).toMatchObject({ status: 429, code: 'rate_limited' });
    const retryAfter = Number(refused.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(3600);
    expect(refused.headers.get('ratelimit-remaining')).toBe('0');
  });

  it('counts each key on its own: another key is not limited by the first', async () => {
    const a = await api.createKey('viewer', [USER_ID]);
    const b = await api.createKey('viewer', [USER_ID]);
    for (let i = 0; i <= LIMIT; i++) await api.requestAs(a.key, 'GET', '/v1/rollouts');
    expect((await api.requestAs(a.key, 'GET', '/v1/rollouts')).status).toBe(429);
    expect((await api.requestAs(b.key, 'GET', '/v1/rollouts')).status).toBe(200);
  });

  it('holds across API processes: requests spread over two processes share one count', async () => {
    const { key } = await api.createKey('viewer', [USER_ID]);
    const statuses: number[] = [];
    for (let i = 0; i < LIMIT + 2; i++)
      statuses.push((await (i % 2 === 0 ? api : second).requestAs(key, 'GET', '/v1/rollouts')).status);
    expect(statuses.filter((s) => s === 200)).toHaveLength(LIMIT);
    expect(statuses.slice(LIMIT)).toEqual([429, 429]);
  });

  it('a rate-limited POST writes nothing', async () => {
    const { key } = await api.createKey('operator', [USER_ID]);
    for (let i = 0; i < LIMIT; i++) await api.requestAs(key, 'GET', '/v1/rollouts');
    const before = await api.db.prisma.rollout.count();
    const res = await api.requestAs(key, 'POST', '/v1/rollouts', { userId: USER_ID, instanceIds: ['i-limited1'] });
    expect(res.status).toBe(429);
    expect(await api.db.prisma.rollout.count()).toBe(before);
  });

  it('a new window starts a new count', async () => {
    const short = await startApi({ rateLimit: { limit: 2, windowMs: 1000 }, sharedWith: api });
    try {
      const { key } = await api.createKey('viewer', [USER_ID]);
      // Start at the beginning of a window so the three requests fall in the same one.
      await new Promise((r) => setTimeout(r, 1000 - (Date.now() % 1000) + 20));
      const statuses = [];
      for (let i = 0; i < 3; i++) statuses.push((await short.requestAs(key, 'GET', '/v1/rollouts')).status);
      expect(statuses).toEqual([200, 200, 429]);
      await new Promise((r) => setTimeout(r, 1000 - (Date.now() % 1000) + 20));
      expect((await short.requestAs(key, 'GET', '/v1/rollouts')).status).toBe(200);
    } finally {
      await short.close();
    }
  });

  it('with Redis unreachable the limit is not enforced (fail open): reads go on, POST answers 503', async () => {
    const down = await startApi({
      rateLimit: { limit: 1, windowMs: 3_600_000 },
      sharedWith: api,
      redisUrl: 'redis://127.0.0.1:1',
    });
    try {
      const { key } = await api.createKey('operator', [USER_ID]);
      for (let i = 0; i < 3; i++) expect((await down.requestAs(key, 'GET', '/v1/rollouts')).status).toBe(200);
      const post = await down.requestAs(key, 'POST', '/v1/rollouts', { userId: USER_ID, instanceIds: ['i-failopen1'] });
      expect(post.status).toBe(503);
      expect(post.body.code).toBe('redis_unavailable');
    } finally {
      await down.close();
    }
  });

  it('public routes are not limited', async () => {
    for (let i = 0; i < LIMIT + 3; i++) expect((await api.requestAs(null, 'GET', '/healthz')).status).toBe(200);
  });
});
