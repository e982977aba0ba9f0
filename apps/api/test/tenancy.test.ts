/**
 * Cross-tenant access, on every route the running app has registered. The routes are read from the app itself,
 * so a route added later without a case here fails this test: give it a case in `CASES` (routes under
 * `/v1/rollouts/:id` get a generic one, which the tenancy guard on that path answers).
 *
 * The intruder is an admin key bound to another account: the highest role, so nothing but tenancy can refuse it.
 * Every refusal must be a 404 problem indistinguishable from "does not exist", and must change nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installQueueName } from '@fleet/queue';
import { createAccount } from '@fleet/db';
import { listRoutes } from '../src/http/route-list.ts';
import type { ApiHarness, ApiResponse } from './support.ts';
import { startApi } from './support.ts';
import { openSse } from './sse-client.ts';

const TENANT_A = '1111111111111111';
const TENANT_B = '2222222222222222';
// The admin sign-in page, and signing out (it only ends the session of the cookie sent). GET /metrics holds no
// tenant's data by name (route patterns and counts) and has its own token (METRICS_TOKEN).
const PUBLIC_ROUTES = new Set([
  'GET /healthz',
  'GET /readyz',
  'GET /metrics',
  'GET /openapi.json',
  'GET /docs',
  // The console's page: no data in it (it signs in with a key and calls /v1).
  'GET /',
  'GET /admin/session',
  'DELETE /admin/session',
]);

type Fixture = {
  rolloutId: string;
  instanceId: string;
  keyOfA: { id: string; key: string };
  flagId: string;
  /** A webhook subscribed to tenant A's account only. */
  webhookId: string;
};
type TenancyCase = {
  /** The request, made with `key`. */
  call(key: string, f: Fixture): Promise<ApiResponse>;
  /** How the request of tenant B must be refused (default: 404 not_found problem). */
  refused?(res: ApiResponse, f: Fixture): void | Promise<void>;
  /** What tenant A's own key gets for the same request, proving the refusal is about tenancy. */
  allowed?(res: ApiResponse, f: Fixture): void;
};

let api: ApiHarness;
let fixture: Fixture;
let keyA: string;
let keyB: string;
const routeKey = (method: string, path: string) => `${method} ${path}`;

const expectNotFound = (res: ApiResponse) => {
  expect(res.status).toBe(404);
  expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  expect(res.body.code).toBe('not_found');
};

/** Nothing listens there; no notifier runs in this test, and private addresses are allowed for it. */
const WEBHOOK_URL = 'http://127.0.0.1:9/tenancy-hook';

const ACCOUNT_CREDENTIALS = { accessKeyId: 'LTAItenancykey01', accessKeySecret: 'tenancy-secret-Zw81' };

const CASES: Record<string, TenancyCase> = {
  'GET /v1/rollouts/:id/waves': {
    call: (key, f) => api.requestAs(key, 'GET', `/v1/rollouts/${f.rolloutId}/waves`),
    allowed: (res) => expect(res.body.items.length).toBeGreaterThan(0),
  },
  'GET /v1/me': {
    call: (key) => api.requestAs(key, 'GET', '/v1/me'),
    refused: (res, f) => {
      expect(res.status).toBe(200);
      expect(res.body.keyId).not.toBe(f.keyOfA.id);
      expect(res.body.userIds).not.toContain(TENANT_A);
    },
    allowed: (res) => expect(res.status).toBe(200),
  },
  // Tenant A's account exists (beforeAll); B may neither see nor shadow it.
  'POST /v1/accounts': {
    call: (key) => api.requestAs(key, 'POST', '/v1/accounts', { userId: TENANT_A, name: 'intruder' }),
  },
  'GET /v1/accounts': {
    call: (key) => api.requestAs(key, 'GET', '/v1/accounts'),
    refused: (res) => {
      expect(res.status).toBe(200);
      expect(res.body.items.map((a: { userId: string }) => a.userId)).not.toContain(TENANT_A);
    },
    allowed: (res) => expect(res.body.items.map((a: { userId: string }) => a.userId)).toContain(TENANT_A),
  },
  'GET /v1/accounts/:userId': {
    call: (key) => api.requestAs(key, 'GET', `/v1/accounts/${TENANT_A}`),
    allowed: (res) => expect(res.body.userId).toBe(TENANT_A),
  },
  'PATCH /v1/accounts/:userId': {
    call: (key) => api.requestAs(key, 'PATCH', `/v1/accounts/${TENANT_A}`, { name: 'renamed' }),
    allowed: (res) => expect(res.body.name).toBe('renamed'),
  },
  'PUT /v1/accounts/:userId/credentials': {
    call: (key) => api.requestAs(key, 'PUT', `/v1/accounts/${TENANT_A}/credentials`, ACCOUNT_CREDENTIALS),
    allowed: (res) => expect(res.body.accessKeyId).toBe('****ey01'),
  },
  // A's own DELETE is refused too while its rollout is open (409), so there is no allowed case.
  'DELETE /v1/accounts/:userId': {
    call: (key) => api.requestAs(key, 'DELETE', `/v1/accounts/${TENANT_A}`),
  },
  // A webhook subscribed to A's account: B may neither see, change nor fire it, nor subscribe to A's account.
  'POST /v1/webhooks': {
    call: (key) => api.requestAs(key, 'POST', '/v1/webhooks', { url: WEBHOOK_URL, events: ['*'], userIds: [TENANT_A] }),
    allowed: (res) => expect(res.status).toBe(201),
  },
  'GET /v1/webhooks': {
    call: (key) => api.requestAs(key, 'GET', '/v1/webhooks'),
    refused: (res, f) => {
      expect(res.status).toBe(200);
      expect(res.body.items.map((w: { id: string }) => w.id)).not.toContain(f.webhookId);
    },
    allowed: (res, f) => expect(res.body.items.map((w: { id: string }) => w.id)).toContain(f.webhookId),
  },
  'GET /v1/webhooks/:id': {
    call: (key, f) => api.requestAs(key, 'GET', `/v1/webhooks/${f.webhookId}`),
    allowed: (res, f) => expect(res.body.id).toBe(f.webhookId),
  },
  'PATCH /v1/webhooks/:id': {
    call: (key, f) => api.requestAs(key, 'PATCH', `/v1/webhooks/${f.webhookId}`, { enabled: true }),
    allowed: (res) => expect(res.status).toBe(200),
  },
  // A's own DELETE would remove the fixture the other cases use, so there is no allowed case.
  'DELETE /v1/webhooks/:id': {
    call: (key, f) => api.requestAs(key, 'DELETE', `/v1/webhooks/${f.webhookId}`),
  },
  'POST /v1/webhooks/:id/rotate-secret': {
    call: (key, f) => api.requestAs(key, 'POST', `/v1/webhooks/${f.webhookId}/rotate-secret`),
    allowed: (res) => expect(res.status).toBe(200),
  },
  'POST /v1/webhooks/:id/test': {
    call: (key, f) => api.requestAs(key, 'POST', `/v1/webhooks/${f.webhookId}/test`),
    allowed: (res) => expect(res.status).toBe(202),
  },
  'GET /v1/webhooks/:id/deliveries': {
    call: (key, f) => api.requestAs(key, 'GET', `/v1/webhooks/${f.webhookId}/deliveries`),
    allowed: (res) => expect(res.status).toBe(200),
  },
  // No delivery exists (no notifier runs here): the webhook's own visibility is what refuses B.
  'POST /v1/webhooks/:id/deliveries/:deliveryId/redeliver': {
    call: (key, f) => api.requestAs(key, 'POST', `/v1/webhooks/${f.webhookId}/deliveries/1/redeliver`),
  },
  'POST /v1/rollouts': {
    call: (key) => api.requestAs(key, 'POST', '/v1/rollouts', { userId: TENANT_A, instanceIds: ['i-intruder1'] }),
    allowed: (res) => expect(res.status).toBe(202),
  },
  'GET /v1/rollouts': {
    call: (key) => api.requestAs(key, 'GET', '/v1/rollouts?limit=200'),
    refused: (res, f) => {
      expect(res.status).toBe(200);
      expect(res.body.items.map((r: { id: string }) => r.id)).not.toContain(f.rolloutId);
      expect(res.body.items.every((r: { userId: string }) => r.userId === TENANT_B)).toBe(true);
    },
    allowed: (res) => expect(res.body.items.length).toBeGreaterThan(0),
  },
  'GET /v1/rollouts?userId': {
    call: (key) => api.requestAs(key, 'GET', `/v1/rollouts?userId=${TENANT_A}`),
    allowed: (res) => expect(res.status).toBe(200),
  },
  'GET /v1/rollouts/:id': {
    call: (key, f) => api.requestAs(key, 'GET', `/v1/rollouts/${f.rolloutId}`),
    refused: async (res, f) => {
      expectNotFound(res);
      // Exactly what a rollout that does not exist answers, apart from the id.
      const missing = await api.requestAs(keyB, 'GET', '/v1/rollouts/00000000-0000-4000-8000-000000000000');
      expect({ ...res.body, detail: undefined, instance: undefined, requestId: undefined }).toEqual({
        ...missing.body,
        detail: undefined,
        instance: undefined,
        requestId: undefined,
      });
      expect(res.body.detail.replace(f.rolloutId, 'X')).toBe(
        missing.body.detail.replace('00000000-0000-4000-8000-000000000000', 'X'),
      );
    },
    allowed: (res) => expect(res.status).toBe(200),
  },
  'GET /v1/rollouts/:id/instances': {
    call: (key, f) => api.requestAs(key, 'GET', `/v1/rollouts/${f.rolloutId}/instances`),
    allowed: (res) => expect(res.status).toBe(200),
  },
  'GET /v1/rollouts/:id/instances/:instanceId': {
    call: (key, f) => api.requestAs(key, 'GET', `/v1/rollouts/${f.rolloutId}/instances/${f.instanceId}`),
    allowed: (res) => expect(res.status).toBe(200),
  },
  'GET /v1/rollouts/:id/report': {
    call: (key, f) => api.requestAs(key, 'GET', `/v1/rollouts/${f.rolloutId}/report`),
    allowed: (res) => expect(res.status).toBe(200),
  },
  // A running rollout's stream never ends by itself: the answer is read up to its headers, then closed.
  'GET /v1/rollouts/:id/events/stream': {
    call: async (key, f) => {
      const stream = await openSse(`${api.url}/v1/rollouts/${f.rolloutId}/events/stream`, {
        authorization: `Bearer ${key}`,
      });
      stream.close();
      return { status: stream.status, headers: stream.headers, body: stream.body };
    },
    allowed: (res) => expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/),
  },
  'POST /v1/rollouts/:id/events/stream-tickets': {
    call: (key, f) => api.requestAs(key, 'POST', `/v1/rollouts/${f.rolloutId}/events/stream-tickets`),
    allowed: (res) => expect(res.status).toBe(201),
  },
  'GET /v1/rollouts/:id/events': {
    call: (key, f) => api.requestAs(key, 'GET', `/v1/rollouts/${f.rolloutId}/events`),
    allowed: (res, f) => {
      expect(res.status).toBe(200);
      expect(res.body.items[0]).toMatchObject({ type: 'rollout.created', rolloutId: f.rolloutId });
    },
  },
  'GET /v1/audit': {
    call: (key) => api.requestAs(key, 'GET', '/v1/audit?limit=1000'),
    refused: (res, f) => {
      expect(res.status).toBe(200);
      expect(res.body.items.map((e: { rolloutId: string | null }) => e.rolloutId)).not.toContain(f.rolloutId);
      // B's own rollout, nothing of A's: every event is B's account or a key bound to B alone.
      expect(res.body.items.length).toBeGreaterThan(0);
      for (const e of res.body.items as { userId: string | null; data: { userIds?: string[] } }[])
        expect(e.userId === TENANT_B || (e.userId === null && e.data.userIds?.every((u) => u === TENANT_B))).toBe(true);
    },
    allowed: (res, f) =>
      expect(res.body.items.map((e: { rolloutId: string | null }) => e.rolloutId)).toContain(f.rolloutId),
  },
  'GET /v1/audit?userId': {
    call: (key) => api.requestAs(key, 'GET', `/v1/audit?userId=${TENANT_A}`),
    allowed: (res) => expect(res.status).toBe(200),
  },
  'POST /v1/api-keys': {
    call: (key) => api.requestAs(key, 'POST', '/v1/api-keys', { name: 'intruder', role: 'admin', userIds: [TENANT_A] }),
    allowed: (res) => expect(res.status).toBe(201),
  },
  'GET /v1/api-keys': {
    call: (key) => api.requestAs(key, 'GET', '/v1/api-keys'),
    refused: (res, f) => {
      expect(res.status).toBe(200);
      expect(res.body.items.map((k: { id: string }) => k.id)).not.toContain(f.keyOfA.id);
    },
    allowed: (res, f) => expect(res.body.items.map((k: { id: string }) => k.id)).toContain(f.keyOfA.id),
  },
  'GET /v1/api-keys/:id': {
    call: (key, f) => api.requestAs(key, 'GET', `/v1/api-keys/${f.keyOfA.id}`),
    allowed: (res) => expect(res.status).toBe(200),
  },
  'GET /v1/manual-install-flags': {
    call: (key) => api.requestAs(key, 'GET', '/v1/manual-install-flags?limit=1000'),
    refused: (res, f) => {
      expect(res.status).toBe(200);
      expect(res.body.items.map((x: { id: string }) => x.id)).not.toContain(f.flagId);
    },
    allowed: (res, f) => expect(res.body.items.map((x: { id: string }) => x.id)).toContain(f.flagId),
  },
  'GET /v1/manual-install-flags?userId': {
    call: (key) => api.requestAs(key, 'GET', `/v1/manual-install-flags?userId=${TENANT_A}`),
    allowed: (res) => expect(res.status).toBe(200),
  },
  'GET /v1/manual-install-flags?rolloutId': {
    call: (key, f) => api.requestAs(key, 'GET', `/v1/manual-install-flags?rolloutId=${f.rolloutId}`),
    allowed: (res) => expect(res.status).toBe(200),
  },
  'GET /v1/manual-install-flags/:id': {
    call: (key, f) => api.requestAs(key, 'GET', `/v1/manual-install-flags/${f.flagId}`),
    allowed: (res) => expect(res.status).toBe(200),
  },
  'POST /v1/manual-install-flags/:id/acknowledge': {
    call: (key, f) =>
      api.requestAs(key, 'POST', `/v1/manual-install-flags/${f.flagId}/acknowledge`, { note: 'mine now' }),
    allowed: (res) => expect(res.body.status).toBe('acknowledged'),
  },
  'POST /v1/manual-install-flags/:id/resolve': {
    call: (key, f) =>
      api.requestAs(key, 'POST', `/v1/manual-install-flags/${f.flagId}/resolve`, { note: 'installed by hand' }),
  },
  'POST /v1/manual-install-flags/:id/close': {
    call: (key, f) =>
      api.requestAs(key, 'POST', `/v1/manual-install-flags/${f.flagId}/close`, { note: 'decommissioned' }),
  },
  // The queue board (mounted, not a route, so listed here by hand): only the queues of the key's accounts.
  'GET /admin/queues': {
    call: (key) => api.requestAs(key, 'GET', '/admin/queues/api/queues'),
    refused: (res, f) => {
      expect(res.status).toBe(200);
      expect(res.body.queues.map((q: { name: string }) => q.name)).not.toContain(installQueueName(f.rolloutId));
    },
    allowed: (res, f) =>
      expect(res.body.queues.map((q: { name: string }) => q.name)).toContain(installQueueName(f.rolloutId)),
  },
  'GET /admin/queues/api/queues/:queueName/:jobId': {
    call: (key, f) =>
      api.requestAs(key, 'GET', `/admin/queues/api/queues/${installQueueName(f.rolloutId)}/${f.instanceId}`),
    refused: (res) => expect(res.status).toBe(404),
    allowed: (res, f) => expect(res.body.job.data.rolloutId).toBe(f.rolloutId),
  },
  // Signing in gives another tenant's admin its own session, whose board is the one above.
  'POST /admin/session': {
    call: (key) => api.requestAs(key, 'POST', '/admin/session'),
    refused: async (res, f) => {
      expect(res.status).toBe(204);
      const cookie = res.headers.get('set-cookie')!.split(';')[0]!;
      const board = await api.requestAs(null, 'GET', '/admin/queues/api/queues', undefined, { cookie });
      expect(board.status).toBe(200);
      expect(board.body.queues.map((q: { name: string }) => q.name)).not.toContain(installQueueName(f.rolloutId));
    },
    allowed: (res) => expect(res.status).toBe(204),
  },
  'DELETE /v1/api-keys/:id': {
    call: (key, f) => api.requestAs(key, 'DELETE', `/v1/api-keys/${f.keyOfA.id}`),
    refused: async (res, f) => {
      expectNotFound(res);
      expect((await api.db.prisma.apiKey.findUniqueOrThrow({ where: { id: f.keyOfA.id } })).revokedAt).toBeNull();
    },
    // Runs last among the positive controls (see below): it revokes the key.
    allowed: (res) => expect(res.status).toBe(204),
  },
};

/** Any route under a rollout: fill in the ids of tenant A's objects and send an empty JSON body where one fits. */
function genericRolloutCase(method: string, path: string): TenancyCase {
  return {
    call: (key, f) => {
      const url = path
        .replace(':id', f.rolloutId)
        .replace(':instanceId', f.instanceId)
        .replace(/:[A-Za-z0-9_]+/g, 'x');
      return api.requestAs(key, method, url, method === 'GET' || method === 'DELETE' ? undefined : {});
    },
  };
}

function caseFor(method: string, path: string): TenancyCase | undefined {
  return (
    CASES[routeKey(method, path)] ??
    (path.startsWith('/v1/rollouts/:id') ? genericRolloutCase(method, path) : undefined)
  );
}

async function snapshot() {
  const [rollout, instances, flag, counts] = await Promise.all([
    api.db.prisma.rollout.findUniqueOrThrow({ where: { id: fixture.rolloutId } }),
    api.db.prisma.rolloutInstance.findMany({ where: { rolloutId: fixture.rolloutId }, orderBy: { id: 'asc' } }),
    api.db.prisma.manualInstallFlag.findUniqueOrThrow({ where: { id: BigInt(fixture.flagId) } }),
    Promise.all([
      api.db.prisma.rollout.count(),
      api.db.prisma.rolloutInstance.count(),
      api.db.prisma.apiKey.count(),
      api.db.prisma.idempotencyRecord.count(),
      api.db.prisma.installAttempt.count(),
      api.db.prisma.manualInstallFlagEvent.count(),
      api.db.prisma.fleetEvent.count(),
    ]),
  ]);
  return { rollout, instances, flag, counts };
}

beforeAll(async () => {
  api = await startApi({ allowPrivateNetworks: true });
  keyA = (await api.createKey('admin', [TENANT_A], 'admin of A')).key;
  keyB = (await api.createKey('admin', [TENANT_B], 'admin of B')).key;
  const created = await api.requestAs(keyA, 'POST', '/v1/rollouts', {
    userId: TENANT_A,
    instanceIds: ['i-tenanta1', 'i-tenanta2'],
  });
  expect(created.status).toBe(202);
  await api.requestAs(keyB, 'POST', '/v1/rollouts', { userId: TENANT_B, instanceIds: ['i-tenantb1'] });
  const instance = await api.db.prisma.rolloutInstance.findFirstOrThrow({
    where: { rolloutId: created.body.id, instanceId: 'i-tenanta1' },
  });
  // A manual-install flag of tenant A, as the reconciler would raise it.
  const flag = await api.db.prisma.manualInstallFlag.create({
    data: {
      rolloutInstanceId: instance.id,
      rolloutId: created.body.id,
      userId: TENANT_A,
      instanceId: 'i-tenanta1',
      reason: 'no_server_guard_agent',
    },
  });
  await createAccount(api.db, {
    userId: TENANT_A,
    name: 'tenant a',
    endpoint: null,
    rateLimitRps: null,
    rateBurst: null,
    credentials: null,
    createdByKeyId: null,
  });
  const webhook = await api.requestAs(keyA, 'POST', '/v1/webhooks', {
    url: WEBHOOK_URL,
    events: ['*'],
    userIds: [TENANT_A],
  });
  expect(webhook.status, JSON.stringify(webhook.body)).toBe(201);
  fixture = {
    webhookId: webhook.body.id,
    rolloutId: created.body.id,
    instanceId: 'i-tenanta1',
    keyOfA: await api.createKey('viewer', [TENANT_A], 'viewer of A'),
    flagId: flag.id.toString(),
  };
});
afterAll(async () => {
  await api.close();
});

describe('cross-tenant access on every route', () => {
  it('every registered route is public by design or has a cross-tenant case', () => {
    const routes = listRoutes(api.app).filter((r) => r.method !== 'HEAD' && r.method !== 'OPTIONS');
    expect(routes.length).toBeGreaterThanOrEqual(9);
    const uncovered = routes
      .map((r) => routeKey(r.method, r.path))
      .filter((k) => !PUBLIC_ROUTES.has(k) && !caseFor(...(k.split(' ') as [string, string])));
    expect(uncovered, `routes without a cross-tenant case (add them to CASES in ${import.meta.url})`).toEqual([]);
    // /admin/* authenticates on its own (authenticateAdmin: an admin key or its session cookie).
    const outsideV1 = routes.filter(
      (r) =>
        !r.path.startsWith('/v1/') && !r.path.startsWith('/admin/') && !PUBLIC_ROUTES.has(routeKey(r.method, r.path)),
    );
    expect(outsideV1, 'a route outside /v1 is not authenticated').toEqual([]);
  });

  it("refuses another tenant's admin on every route with a 404 (or hides the objects), and changes nothing", async () => {
    const routes = listRoutes(api.app).filter(
      (r) => r.method !== 'HEAD' && r.method !== 'OPTIONS' && !PUBLIC_ROUTES.has(routeKey(r.method, r.path)),
    );
    const keys = [...new Set([...routes.map((r) => routeKey(r.method, r.path)), ...Object.keys(CASES)])];
    const before = await snapshot();
    const tried: string[] = [];
    for (const key of keys) {
      const [method, path] = key.split(' ') as [string, string];
      const tenancyCase = caseFor(method, path)!;
      const res = await tenancyCase.call(keyB, fixture);
      expect(res.status, `${key} answered ${res.status} ${JSON.stringify(res.body)}`).toBeLessThan(500);
      await (tenancyCase.refused ?? expectNotFound)(res, fixture);
      tried.push(key);
    }
    expect(await snapshot()).toEqual(before);
    expect(tried.length).toBe(keys.length);
  });

  it("answers tenant A's own key on the same requests (the refusals above are about tenancy)", async () => {
    // Revoking A's viewer key goes last, as it changes what the other controls see.
    const keys = Object.keys(CASES).sort(
      (a, b) => Number(a === 'DELETE /v1/api-keys/:id') - Number(b === 'DELETE /v1/api-keys/:id'),
    );
    for (const key of keys) {
      const tenancyCase = CASES[key]!;
      if (!tenancyCase.allowed) continue;
      const res = await tenancyCase.call(keyA, fixture);
      expect(res.status, `${key} answered ${res.status} ${JSON.stringify(res.body)}`).toBeLessThan(300);
      tenancyCase.allowed(res, fixture);
    }
  });

  it('an admin for every account sees both tenants', async () => {
    const all = await api.request('GET', '/v1/rollouts');
    expect(new Set(all.body.items.map((r: { userId: string }) => r.userId))).toEqual(new Set([TENANT_A, TENANT_B]));
    expect((await api.request('GET', `/v1/rollouts/${fixture.rolloutId}`)).status).toBe(200);
  });

  it('the tenancy guard answers 404 for a route under a rollout before the route validates anything', async () => {
    // A route nobody registered under another tenant's rollout: the guard answers first, with 404 either way.
    const res = await api.requestAs(keyB, 'POST', `/v1/rollouts/${fixture.rolloutId}/no-such-action`, {
      nonsense: true,
    });
    expectNotFound(res);
  });
});
