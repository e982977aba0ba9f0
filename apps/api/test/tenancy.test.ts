/**
 * Cross-tenant access, on every route the running app has registered. The routes are read from the app itself,
 * so a route added later without a case here fails this test: give it a case in `tenancyCases` (tenancy-cases.ts) (routes under
 * `/v1/rollouts/:id` get a generic one, which the tenancy guard on that path answers).
 *
 * The intruder is an admin key bound to another account: the highest role, so nothing but tenancy can refuse it.
 * Every refusal must be a 404 problem indistinguishable from "does not exist", and must change nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAccount } from '@fleet/db';
import { listRoutes } from '../src/http/route-list.ts';
import type { ApiHarness } from './support.ts';
import { startApi } from './support.ts';
import {
  caseFor,
  expectNotFound,
  PUBLIC_ROUTES,
  routeKey,
  TENANT_A,
  TENANT_B,
  tenancyCases,
  WEBHOOK_URL,
} from './tenancy-cases.ts';
import type { Fixture, TenancyCase } from './tenancy-cases.ts';

let api: ApiHarness;
let fixture: Fixture;
let keyA: string;
let keyB: string;
let cases: Record<string, TenancyCase>;
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
  cases = tenancyCases(api, keyB);
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
      .filter((k) => !PUBLIC_ROUTES.has(k) && !caseFor(cases, api, ...(k.split(' ') as [string, string])));
    expect(uncovered, `routes without a cross-tenant case (add them to tenancyCases in tenancy-cases.ts)`).toEqual([]);
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
    const keys = [...new Set([...routes.map((r) => routeKey(r.method, r.path)), ...Object.keys(cases)])];
    const before = await snapshot();
    const tried: string[] = [];
    for (const key of keys) {
      const [method, path] = key.split(' ') as [string, string];
      const tenancyCase = caseFor(cases, api, method, path)!;
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
    const keys = Object.keys(cases).sort(
      (a, b) => Number(a === 'DELETE /v1/api-keys/:id') - Number(b === 'DELETE /v1/api-keys/:id'),
    );
    for (const key of keys) {
      const tenancyCase = cases[key]!;
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
