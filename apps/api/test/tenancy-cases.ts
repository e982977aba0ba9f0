/**
 * The cross-tenant cases of tenancy.test.ts: the tenants, the routes public by design, the fixture of tenant A's
 * objects, and for each route the request of another tenant's admin, how it must be refused, and what A's own key
 * gets instead.
 */
import { expect } from 'vitest';
import { installQueueName } from '@fleet/queue';
import type { ApiHarness, ApiResponse } from './support.ts';
import { openSse } from './sse-client.ts';

export const TENANT_A = '1111111111111111';
export const TENANT_B = '2222222222222222';
// The admin sign-in page, and signing out (it only ends the session of the cookie sent). GET /metrics holds no
// tenant's data by name (route patterns and counts) and has its own token (METRICS_TOKEN).
export const PUBLIC_ROUTES = new Set([
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

export type Fixture = {
  rolloutId: string;
  instanceId: string;
  keyOfA: { id: string; key: string };
  flagId: string;
  /** A webhook subscribed to tenant A's account only. */
  webhookId: string;
};
export type TenancyCase = {
  /** The request, made with `key`. */
  call(key: string, f: Fixture): Promise<ApiResponse>;
  /** How the request of tenant B must be refused (default: 404 not_found problem). */
  refused?(res: ApiResponse, f: Fixture): void | Promise<void>;
  /** What tenant A's own key gets for the same request, proving the refusal is about tenancy. */
  allowed?(res: ApiResponse, f: Fixture): void;
};

export const routeKey = (method: string, path: string) => `${method} ${path}`;

export const expectNotFound = (res: ApiResponse) => {
  expect(res.status).toBe(404);
  expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  expect(res.body.code).toBe('not_found');
};

/** Nothing listens there; no notifier runs in this test, and private addresses are allowed for it. */
export const WEBHOOK_URL = 'http://127.0.0.1:9/tenancy-hook';

const ACCOUNT_CREDENTIALS = { accessKeyId: 'LTAItenancykey01', accessKeySecret: 'tenancy-secret-Zw81' };

/**
 * The cross-tenant case of each route that needs one of its own (the rest under `/v1/rollouts/:id` get
 * genericRolloutCase), made against `api`; `keyB` is the intruder's key, for cases that compare with what B may see.
 */
export function tenancyCases(api: ApiHarness, keyB: string): Record<string, TenancyCase> {
  return {
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
      call: (key) =>
        api.requestAs(key, 'POST', '/v1/webhooks', { url: WEBHOOK_URL, events: ['*'], userIds: [TENANT_A] }),
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
          expect(e.userId === TENANT_B || (e.userId === null && e.data.userIds?.every((u) => u === TENANT_B))).toBe(
            true,
          );
      },
      allowed: (res, f) =>
        expect(res.body.items.map((e: { rolloutId: string | null }) => e.rolloutId)).toContain(f.rolloutId),
    },
    'GET /v1/audit?userId': {
      call: (key) => api.requestAs(key, 'GET', `/v1/audit?userId=${TENANT_A}`),
      allowed: (res) => expect(res.status).toBe(200),
    },
    'POST /v1/api-keys': {
      call: (key) =>
        api.requestAs(key, 'POST', '/v1/api-keys', { name: 'intruder', role: 'admin', userIds: [TENANT_A] }),
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
}

/** Any route under a rollout: fill in the ids of tenant A's objects and send an empty JSON body where one fits. */
function genericRolloutCase(api: ApiHarness, method: string, path: string): TenancyCase {
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

/** The case of a route: its own in `cases`, the generic one under a rollout, or none. */
export function caseFor(
  cases: Record<string, TenancyCase>,
  api: ApiHarness,
  method: string,
  path: string,
): TenancyCase | undefined {
  return (
    cases[routeKey(method, path)] ??
    (path.startsWith('/v1/rollouts/:id') ? genericRolloutCase(api, method, path) : undefined)
  );
}
