/**
 * The queue board at /admin/queues (bull-board), over real HTTP, Postgres and Redis: who gets in, how a browser
 * signs in, which rollouts' queues it lists as they open and close, and that it changes nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installQueueName, openInstallQueue } from '@fleet/queue';
import { capturingLogger } from '@fleet/testing';
import type { ApiHarness, ApiResponse } from './support.ts';
import { startApi } from './support.ts';

const TENANT_A = '3333333333333333';
const TENANT_B = '4444444444444444';

let api: ApiHarness;
let rolloutOfA: string;
let rolloutOfB: string;

type BoardQueue = { name: string; counts: Record<string, number>; readOnlyMode: boolean };

/** The queues bull-board's JSON API lists, with a Bearer key or a cookie. */
async function boardQueues(auth: { key: string } | { cookie: string }): Promise<ApiResponse & { names: string[] }> {
  const res =
    'key' in auth
      ? await api.requestAs(auth.key, 'GET', '/admin/queues/api/queues')
      : await api.requestAs(null, 'GET', '/admin/queues/api/queues', undefined, { cookie: auth.cookie });
  const names = res.status === 200 ? (res.body.queues as BoardQueue[]).map((q) => q.name) : [];
  return { ...res, names };
}

async function createRollout(userId: string, instanceIds: string[]): Promise<string> {
  const res = await api.request('POST', '/v1/rollouts', { userId, instanceIds });
  expect(res.status).toBe(202);
  return res.body.id as string;
}

/** The `name=value` part of the session cookie an answer set. */
function sessionCookieOf(res: ApiResponse): string {
  const setCookie = res.headers.get('set-cookie') ?? '';
  expect(setCookie).toMatch(/^fleet_admin_session=fas_/);
  return setCookie.split(';')[0]!;
}

beforeAll(async () => {
  api = await startApi();
  rolloutOfA = await createRollout(TENANT_A, ['i-boarda1', 'i-boarda2', 'i-boarda3']);
  rolloutOfB = await createRollout(TENANT_B, ['i-boardb1']);
});
afterAll(async () => {
  await api.close();
});

describe('who may see the queue board', () => {
  it("an admin key gets bull-board's page and its JSON lists each open rollout's queue with its jobs", async () => {
    const page = await api.request('GET', '/admin/queues');
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect(page.body).toContain('__UI_CONFIG__');
    expect(page.body).toContain('<base href="/admin/queues/"');
    expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
    // Its scripts are served from under the board (the CSP allows nothing from elsewhere).
    const script = /<script defer src="(static\/js\/main\.[^"]+\.js)"/.exec(page.body)?.[1];
    expect(script).toBeDefined();
    const asset = await fetch(`${api.url}/admin/queues/${script}`, {
      headers: { authorization: `Bearer ${api.adminKey}` },
    });
    expect(asset.status).toBe(200);
    expect(asset.headers.get('content-type')).toMatch(/javascript/);

    const { status, body, names } = await boardQueues({ key: api.adminKey });
    expect(status).toBe(200);
    expect(names).toEqual(expect.arrayContaining([installQueueName(rolloutOfA), installQueueName(rolloutOfB)]));
    const queueOfA = (body.queues as BoardQueue[]).find((q) => q.name === installQueueName(rolloutOfA))!;
    // Read from the rollout's queue in Redis under this API's prefix: the three jobs the API enqueued.
    expect(queueOfA.counts.waiting).toBe(3);
    expect(queueOfA.readOnlyMode).toBe(true);
  });

  it('refuses viewer and operator keys (403), and no key, a bad key or an unknown cookie (401)', async () => {
    for (const role of ['viewer', 'operator'] as const) {
      const { key } = await api.createKey(role, 'all');
      for (const path of ['/admin/queues', '/admin/queues/api/queues']) {
        const res = await api.requestAs(key, 'GET', path);
        expect(res.status, `${role} ${path}`).toBe(403);
        expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      }
      const signIn = await api.requestAs(key, 'POST', '/admin/session');
      expect(signIn.status).toBe(403);
      expect(signIn.headers.get('set-cookie')).toBeNull();
    }
    expect((await api.requestAs(null, 'GET', '/admin/queues')).status).toBe(401);
    expect((await api.requestAs(null, 'GET', '/admin/queues/api/queues')).status).toBe(401);
    expect((await api.requestAs('flt_not-a-real-key', 'GET', '/admin/queues')).status).toBe(401);
    const forged = await boardQueues({ cookie: `fleet_admin_session=fas_${'A'.repeat(43)}` });
    expect(forged.status).toBe(401);
    expect(forged.body.code).toBe('unauthenticated');
  });

  it("an admin key of some accounts sees only those accounts' queues; another account's queue is a 404", async () => {
    const { key: adminOfB } = await api.createKey('admin', [TENANT_B], 'admin of B');
    const seen = await boardQueues({ key: adminOfB });
    expect(seen.status).toBe(200);
    expect(seen.names).toContain(installQueueName(rolloutOfB));
    expect(seen.names).not.toContain(installQueueName(rolloutOfA));
    const job = await api.requestAs(
      adminOfB,
      'GET',
      `/admin/queues/api/queues/${installQueueName(rolloutOfA)}/i-boarda1`,
    );
    expect(job.status).toBe(404);
    // The board of every account still has both (the scoped board did not replace it).
    expect((await boardQueues({ key: api.adminKey })).names).toContain(installQueueName(rolloutOfA));
  });
});

describe('signing in from a browser', () => {
  it('POST /admin/session with the key in Authorization sets an HttpOnly SameSite=Strict cookie that opens the board', async () => {
    const res = await api.request('POST', '/admin/session');
    expect(res.status).toBe(204);
    const setCookie = res.headers.get('set-cookie')!;
    expect(setCookie).toMatch(/; Path=\/admin; HttpOnly; SameSite=Strict; Max-Age=900$/);
    expect(setCookie).not.toContain(api.adminKey);
    const cookie = sessionCookieOf(res);
    const seen = await boardQueues({ cookie });
    expect(seen.status).toBe(200);
    expect(seen.names).toContain(installQueueName(rolloutOfA));
    // Redis holds neither the key nor the cookie's token, only the token's hash.
    const keys = await api.redis.keys(`${api.prefix}:admin-session:*`);
    expect(keys.length).toBeGreaterThan(0);
    for (const redisKey of keys) {
      expect(redisKey).not.toContain(cookie.split('=')[1]);
      expect(await api.redis.get(redisKey)).not.toContain(api.adminKey);
    }
  });

  it('the sign-in form posts the key in the body and is sent on to the board; a form from another site is refused', async () => {
    const form = await api.requestAs(null, 'GET', '/admin/session');
    expect(form.status).toBe(200);
    expect(form.body).toContain('<form method="post" action="/admin/session">');
    const body = new URLSearchParams({ key: api.adminKey }).toString();
    const headers = { 'content-type': 'application/x-www-form-urlencoded' };
    const signIn = await fetch(`${api.url}/admin/session`, {
      method: 'POST',
      headers: { ...headers, origin: api.url, 'sec-fetch-site': 'same-origin' },
      body,
      redirect: 'manual',
    });
    expect(signIn.status).toBe(303);
    expect(signIn.headers.get('location')).toBe('/admin/queues');
    const cookie = signIn.headers.get('set-cookie')!.split(';')[0]!;
    expect((await boardQueues({ cookie })).status).toBe(200);

    const crossSite = await fetch(`${api.url}/admin/session`, {
      method: 'POST',
      headers: { ...headers, origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' },
      body,
      redirect: 'manual',
    });
    expect(crossSite.status).toBe(403);
    expect(crossSite.headers.get('set-cookie')).toBeNull();
    const noKey = await api.requestAs(null, 'POST', '/admin/session', 'key=', headers);
    expect(noKey.status).toBe(400);
    expect(noKey.body.errors[0]).toMatchObject({ in: 'body', field: 'key' });
  });

  it('DELETE /admin/session ends the session, and revoking the key ends its sessions', async () => {
    const cookie = sessionCookieOf(await api.request('POST', '/admin/session'));
    const out = await api.requestAs(null, 'DELETE', '/admin/session', undefined, { cookie });
    expect(out.status).toBe(204);
    expect(out.headers.get('set-cookie')).toMatch(/^fleet_admin_session=; .*Max-Age=0/);
    expect((await boardQueues({ cookie })).status).toBe(401);

    const { id, key } = await api.createKey('admin', 'all', 'soon revoked');
    const revokedCookie = sessionCookieOf(await api.requestAs(key, 'POST', '/admin/session'));
    expect((await boardQueues({ cookie: revokedCookie })).status).toBe(200);
    expect((await api.request('DELETE', `/v1/api-keys/${id}`)).status).toBeLessThan(300);
    expect((await boardQueues({ cookie: revokedCookie })).status).toBe(401);
  });
});

describe('queues coming and going', () => {
  it('a rollout created after the board was opened appears, and a cancelled one goes', async () => {
    const before = await boardQueues({ key: api.adminKey });
    const added = await createRollout(TENANT_A, ['i-boardnew1']);
    expect(before.names).not.toContain(installQueueName(added));
    expect((await boardQueues({ key: api.adminKey })).names).toContain(installQueueName(added));

    const cancelled = await api.request('POST', `/v1/rollouts/${added}/cancel`);
    expect(cancelled.body.status).toBe('cancelled');
    const after = await boardQueues({ key: api.adminKey });
    expect(after.names).not.toContain(installQueueName(added));
    expect(after.names).toContain(installQueueName(rolloutOfA));
  });

  it('is read-only: pausing a queue or cleaning its jobs answers 405 and leaves Redis as it was', async () => {
    const name = installQueueName(rolloutOfA);
    for (const path of [`${name}/pause`, `${name}/clean/waiting`, `${name}/empty`, `${name}/i-boarda1/retry`]) {
      const res = await api.request('PUT', `/admin/queues/api/queues/${path}`);
      expect(res.status, path).toBe(405);
    }
    await api.request('PUT', '/admin/queues/api/queues/pause');
    const queue = openInstallQueue(api.redis, rolloutOfA, api.prefix, capturingLogger({ service: 'test' }).logger);
    try {
      expect(await queue.isPaused()).toBe(false);
      expect(await queue.getWaitingCount()).toBe(3);
    } finally {
      await queue.close();
    }
  });
});

describe('rate limit', () => {
  it("counts the board's requests against the key's one budget with /v1 (429 past it)", async () => {
    const limited = await startApi({ rateLimit: { limit: 3, windowMs: 3_600_000 } });
    try {
      expect((await limited.request('GET', '/v1/rollouts')).status).toBe(200);
      expect((await limited.request('GET', '/admin/queues/api/queues')).status).toBe(200);
      expect((await limited.request('GET', '/admin/queues/api/queues')).status).toBe(200);
      const over = await limited.request('GET', '/admin/queues/api/queues');
      expect(over.status).toBe(429);
      expect(over.headers.get('retry-after')).not.toBeNull();
    } finally {
      await limited.close();
    }
  });
});
