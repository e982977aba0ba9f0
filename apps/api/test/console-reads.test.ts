import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApiHarness } from './support.ts';
import { startApi, USER_ID } from './support.ts';

/** The reads the web console needs: who the key is, a listing with counts and creators, search by instance, waves. */
let api: ApiHarness;
beforeAll(async () => {
  api = await startApi();
});
afterAll(async () => {
  await api.close();
});

const OTHER_ACCOUNT = '9999999999999999';

describe('GET /v1/me', () => {
  it("answers the key's own name, prefix, role and accounts, for a viewer too, and never the key", async () => {
    const viewer = await api.createKey('viewer', [USER_ID, OTHER_ACCOUNT], 'console viewer');
    const res = await api.requestAs(viewer.key, 'GET', '/v1/me');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      keyId: viewer.id,
      keyName: 'console viewer',
      keyPrefix: viewer.key.slice(0, 12),
      role: 'viewer',
      allAccounts: false,
      userIds: [USER_ID, OTHER_ACCOUNT].sort(),
    });
    expect(JSON.stringify(res.body)).not.toContain(viewer.key);
    const admin = await api.request('GET', '/v1/me');
    expect(admin.body).toMatchObject({ role: 'admin', allAccounts: true, userIds: [] });
    expect((await api.requestAs(null, 'GET', '/v1/me')).status).toBe(401);
  });
});

describe('GET /v1/rollouts for the console', () => {
  it('lists each rollout with its counts per state and the key that created it, and finds rollouts by instance id', async () => {
    const operator = await api.createKey('operator', [USER_ID], 'console operator');
    const first = await api.requestAs(operator.key, 'POST', '/v1/rollouts', {
      userId: USER_ID,
      instanceIds: ['i-consoleshared1', 'i-consoleonly1a', 'i-consoleonly1b'],
    });
    const second = await api.request('POST', '/v1/rollouts', {
      userId: USER_ID,
      instanceIds: ['i-consoleshared1', 'i-consoleonly2a'],
    });
    expect([first.status, second.status]).toEqual([202, 202]);
    // One instance of the first finishes (straight in the table: the counts follow its rows by trigger).
    await api.db.prisma.rolloutInstance.updateMany({
      where: { rolloutId: first.body.id, instanceId: 'i-consoleonly1a' },
      data: { state: 'succeeded', finishedAt: new Date() },
    });

    const listed = await api.request('GET', '/v1/rollouts?limit=200');
    const byId = new Map(listed.body.items.map((item: { id: string }) => [item.id, item]));
    expect(byId.get(first.body.id)).toMatchObject({
      totalInstances: 3,
      counts: { total: 3, pending: 2, succeeded: 1, in_progress: 0, failed: 0, cancelled: 0 },
      createdBy: { kind: 'api_key', id: operator.id, name: 'console operator' },
    });
    expect(byId.get(second.body.id)).toMatchObject({ counts: { total: 2, pending: 2 } });

    const shared = await api.request('GET', '/v1/rollouts?instanceId=i-consoleshared1');
    expect(shared.body.items.map((item: { id: string }) => item.id).sort()).toEqual(
      [first.body.id, second.body.id].sort(),
    );
    const only = await api.request('GET', '/v1/rollouts?instanceId=i-consoleonly2a');
    expect(only.body.items.map((item: { id: string }) => item.id)).toEqual([second.body.id]);
    expect((await api.request('GET', '/v1/rollouts?instanceId=i-nowhere0')).body.items).toEqual([]);
    const bad = await api.request('GET', '/v1/rollouts?instanceId=NOT-AN-ID');
    expect(bad.status).toBe(400);
    expect(bad.body.errors[0]).toMatchObject({ field: 'instanceId', in: 'query' });
  });
});

describe('GET /v1/rollouts/{id}/waves', () => {
  it('answers every wave in order with its counts, waves not started yet all pending', async () => {
    const created = await api.request('POST', '/v1/rollouts', {
      userId: USER_ID,
      instanceIds: ['i-wave0001', 'i-wave0002', 'i-wave0003', 'i-wave0004', 'i-wave0005'],
      waves: { sizes: [1, 2] },
    });
    expect(created.status).toBe(202);
    const res = await api.request('GET', `/v1/rollouts/${created.body.id}/waves`);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ current: 1, count: 3 });
    expect(
      res.body.items.map((w: { wave: number; counts: { total: number; pending: number } }) => [
        w.wave,
        w.counts.total,
        w.counts.pending,
      ]),
    ).toEqual([
      [1, 1, 1],
      [2, 2, 2],
      [3, 2, 2],
    ]);
    expect((await api.request('GET', '/v1/rollouts/0b6c1c1e-6f0e-4a49-9b43-3f1f1a2b3c4d/waves')).status).toBe(404);
  });
});
