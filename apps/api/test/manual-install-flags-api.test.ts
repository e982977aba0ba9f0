/** The manual-install flag API over real HTTP: listing across rollouts, history, and guarded operator moves. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { insertRollout, raiseMissingManualInstallFlags } from '@fleet/db';
import type { ApiHarness, ApiResponse } from './support.ts';
import { startApi, USER_ID } from './support.ts';
import { instanceIds } from '@fleet/testing';

const OTHER_USER = '2222222222222222';
let api: ApiHarness;
beforeAll(async () => {
  api = await startApi();
});
afterAll(async () => {
  await api.close();
});

/** A finished rollout of `userId` whose instances all failed for want of Server Guard, flagged by the reconciler. */
async function flaggedRollout(userId: string, ids: string[]): Promise<string> {
  const { rollout } = await insertRollout(api.db, {
    userId,
    force: false,
    concurrency: 5,
    maxAttempts: 2,
    policy: {},
    instanceIds: ids,
  });
  await api.db.prisma.rolloutInstance.updateMany({
    where: { rolloutId: rollout.id },
    data: {
      state: 'failed',
      attemptCount: 1,
      finishedAt: new Date(),
      needsManualInstall: true,
      manualInstallReason: 'no_server_guard_agent',
      lastErrorCode: '400',
      lastErrorMessage: 'Server Guard offline',
      lastRequestId: 'R-1',
    },
  });
  await api.db.prisma.rollout.update({
    where: { id: rollout.id },
    data: { status: 'completed', finishedAt: new Date() },
  });
  expect((await raiseMissingManualInstallFlags(api.db, rollout.id)).flagged).toBe(ids.length);
  return rollout.id;
}

/** What the worker leaves of a retry whose installs all failed again, and the reconciler's raise after it. */
async function failAgain(rolloutId: string) {
  await api.db.prisma.rolloutInstance.updateMany({
    where: { rolloutId },
    data: {
      state: 'failed',
      attemptCount: 2,
      finishedAt: new Date(),
      needsManualInstall: true,
      manualInstallReason: 'retries_exhausted',
      lastErrorCode: '503',
      lastErrorMessage: 'ServiceUnavailable',
      lastRequestId: `R-${rolloutId.slice(0, 8)}`,
    },
  });
  await api.db.prisma.rollout.update({
    where: { id: rolloutId },
    data: { status: 'completed', finishedAt: new Date() },
  });
  return raiseMissingManualInstallFlags(api.db, rolloutId);
}

describe('GET /v1/manual-install-flags', () => {
  it('lists flags across rollouts of an account, by status and rollout, a page at a time; other tenants see none', async () => {
    const first = await flaggedRollout(USER_ID, instanceIds(3, 'i-la'));
    const second = await flaggedRollout(USER_ID, instanceIds(2, 'i-lb'));
    await flaggedRollout(OTHER_USER, instanceIds(2, 'i-lc'));

    const all = await api.request('GET', `/v1/manual-install-flags?userId=${USER_ID}&limit=100`);
    expect(all.status).toBe(200);
    expect(all.body.items).toHaveLength(5);
    expect(new Set(all.body.items.map((f: { rolloutId: string }) => f.rolloutId))).toEqual(new Set([first, second]));
    expect(all.body.items[0]).toMatchObject({
      userId: USER_ID,
      reason: 'no_server_guard_agent',
      status: 'open',
      lastRequestId: 'R-1',
      detail: '400: Server Guard offline',
    });
    expect(all.body.items[0].recommendedAction).toMatch(/Server Guard/);

    const paged: string[] = [];
    let cursor: string | null = null;
    do {
      const page: ApiResponse = await api.request(
        'GET',
        `/v1/manual-install-flags?userId=${USER_ID}&limit=2${cursor ? `&cursor=${cursor}` : ''}`,
      );
      paged.push(...page.body.items.map((f: { id: string }) => f.id));
      cursor = page.body.nextCursor;
    } while (cursor);
    expect(paged).toEqual(all.body.items.map((f: { id: string }) => f.id));

    expect((await api.request('GET', `/v1/manual-install-flags?rolloutId=${second}`)).body.items).toHaveLength(2);
    expect(
      (await api.request('GET', `/v1/manual-install-flags?userId=${USER_ID}&status=closed`)).body.items,
    ).toHaveLength(0);

    const tenant = await api.createKey('viewer', [OTHER_USER]);
    const own = await api.requestAs(tenant.key, 'GET', '/v1/manual-install-flags');
    expect(own.body.items.map((f: { userId: string }) => f.userId)).toEqual([OTHER_USER, OTHER_USER]);
    expect((await api.requestAs(tenant.key, 'GET', `/v1/manual-install-flags?userId=${USER_ID}`)).status).toBe(404);
    expect((await api.requestAs(tenant.key, 'GET', `/v1/manual-install-flags?rolloutId=${first}`)).status).toBe(404);
    expect((await api.requestAs(tenant.key, 'GET', `/v1/manual-install-flags/${all.body.items[0].id}`)).status).toBe(
      404,
    );
    expect((await api.request('GET', '/v1/manual-install-flags?status=gone')).status).toBe(400);
  });
});

describe('flags across retries', () => {
  it('keeps one flag per host through a rollout and two retries, found by each; resolving or closing it ends it for the host', async () => {
    const hosts = instanceIds(4, 'i-rt');
    const original = await flaggedRollout(USER_ID, hosts);
    const retry1 = await api.request('POST', `/v1/rollouts/${original}/retry`, {});
    expect(retry1.status).toBe(202);
    expect(await failAgain(retry1.body.id)).toEqual({ flagged: 0, reflagged: 4, reopened: 0 });
    const retry2 = await api.request('POST', `/v1/rollouts/${retry1.body.id}/retry`, {});
    expect(retry2.body.retryOf.instances).toBe(4);
    expect(await failAgain(retry2.body.id)).toEqual({ flagged: 0, reflagged: 4, reopened: 0 });
    const chain = [original, retry1.body.id, retry2.body.id];

    // Four flags for four hosts, whichever of the three rollouts they are listed by.
    const byRollout = await Promise.all(
      chain.map((id) => api.request('GET', `/v1/manual-install-flags?rolloutId=${id}&limit=100`)),
    );
    const ids = byRollout[0]!.body.items.map((f: { id: string }) => f.id);
    expect(ids).toHaveLength(4);
    for (const page of byRollout) expect(page.body.items.map((f: { id: string }) => f.id)).toEqual(ids);
    expect(byRollout[0]!.body.items.map((f: { instanceId: string }) => f.instanceId)).toEqual(hosts);
    expect(byRollout[0]!.body.items[0]).toMatchObject({
      rolloutId: retry2.body.id,
      rolloutIds: chain,
      status: 'open',
      reason: 'retries_exhausted',
      detail: '503: ServiceUnavailable',
    });
    const hostFlags = await api.request('GET', `/v1/manual-install-flags?userId=${USER_ID}&status=open&limit=1000`);
    expect(hostFlags.body.items.filter((f: { instanceId: string }) => hosts.includes(f.instanceId))).toHaveLength(4);
    const detail = await api.request('GET', `/v1/manual-install-flags/${ids[0]}`);
    expect(
      detail.body.history.map((e: { action: string; detail: { rolloutId: string } }) => [e.action, e.detail.rolloutId]),
    ).toEqual([
      ['flagged', original],
      ['reflagged', retry1.body.id],
      ['reflagged', retry2.body.id],
    ]);

    // Resolved on one host, closed on another, wherever they were found: the next retry leaves both out.
    const resolved = await api.request('POST', `/v1/manual-install-flags/${ids[0]}/resolve`, { note: 'by hand' });
    expect(resolved.body).toMatchObject({ status: 'resolved', instance: { verification: 'pending' } });
    expect((await api.request('POST', `/v1/manual-install-flags/${ids[1]}/close`, {})).body.status).toBe('closed');
    for (const id of chain) {
      const listed = await api.request('GET', `/v1/manual-install-flags?rolloutId=${id}`);
      expect(listed.body.items.map((f: { status: string }) => f.status)).toEqual([
        'resolved',
        'closed',
        'open',
        'open',
      ]);
      const report = await api.request('GET', `/v1/rollouts/${id}/report`);
      expect(report.body.manualInstallFlags).toEqual({ open: 2, acknowledged: 0, resolved: 1, closed: 1 });
    }
    const retry3 = await api.request('POST', `/v1/rollouts/${retry2.body.id}/retry`, {});
    expect(retry3.status).toBe(202);
    expect(retry3.body.retryOf.instances).toBe(2);
    const retried = await api.db.prisma.rolloutInstance.findMany({
      where: { rolloutId: retry3.body.id },
      orderBy: { instanceId: 'asc' },
    });
    expect(retried.map((i) => i.instanceId)).toEqual(hosts.slice(2));
    // The original rollout's own retry leaves them out as well.
    await api.db.prisma.rollout.update({ where: { id: retry3.body.id }, data: { status: 'completed' } });
    const refused = await api.request('POST', `/v1/rollouts/${original}/retry`, { instanceIds: [hosts[0]] });
    expect(refused.status).toBe(400);
  });
});

describe('moving a manual-install flag', () => {
  it('acknowledges, resolves (re-verification pending) and closes, with history; refuses moves the state machine forbids', async () => {
    const rolloutId = await flaggedRollout(USER_ID, ['i-move1']);
    const flag = (await api.request('GET', `/v1/manual-install-flags?rolloutId=${rolloutId}`)).body.items[0];
    const path = `/v1/manual-install-flags/${flag.id}`;

    const ack = await api.request('POST', `${path}/acknowledge`, { note: 'on it' });
    expect(ack.status).toBe(200);
    expect(ack.body).toMatchObject({
      status: 'acknowledged',
      note: 'on it',
      acknowledgedBy: expect.stringContaining('test admin'),
    });
    expect((await api.request('POST', `${path}/acknowledge`)).status).toBe(200);

    expect((await api.request('POST', `${path}/resolve`, {})).status).toBe(400);
    const resolved = await api.request('POST', `${path}/resolve`, { note: 'installed the agent by hand' });
    expect(resolved.status).toBe(200);
    expect(resolved.body).toMatchObject({
      status: 'resolved',
      resolvedBy: expect.stringContaining('test admin'),
      instance: { state: 'failed', verification: 'pending', verifyDeadlineAt: null },
    });

    const refused = await api.request('POST', `${path}/acknowledge`);
    expect(refused.status).toBe(409);
    expect(refused.body.code).toBe('flag_transition_refused');

    const closed = await api.request('POST', `${path}/close`, { note: 'host decommissioned' });
    expect(closed.body.status).toBe('closed');
    expect((await api.request('POST', `${path}/resolve`, { note: 'again' })).status).toBe(409);

    const detail = await api.request('GET', path);
    expect(detail.status).toBe(200);
    expect(detail.body.history.map((e: { action: string; note: string | null }) => [e.action, e.note])).toEqual([
      ['flagged', null],
      ['acknowledged', 'on it'],
      ['resolved', 'installed the agent by hand'],
      ['closed', 'host decommissioned'],
    ]);
    expect(detail.body.history[0].actor).toBe('reconciler');
  });

  it('lets exactly one of two simultaneous acknowledgements write history', async () => {
    const rolloutId = await flaggedRollout(USER_ID, ['i-race1']);
    const flag = (await api.request('GET', `/v1/manual-install-flags?rolloutId=${rolloutId}`)).body.items[0];
    const answers = await Promise.all(
      [1, 2, 3].map(() => api.request('POST', `/v1/manual-install-flags/${flag.id}/acknowledge`)),
    );
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200]);
    const events = await api.db.prisma.manualInstallFlagEvent.findMany({ where: { flagId: BigInt(flag.id) } });
    expect(events.map((e) => e.action).sort()).toEqual(['acknowledged', 'flagged']);
  });

  it('needs the operator role to move a flag, and a flag id that exists', async () => {
    const rolloutId = await flaggedRollout(USER_ID, ['i-role1']);
    const flag = (await api.request('GET', `/v1/manual-install-flags?rolloutId=${rolloutId}`)).body.items[0];
    const viewer = await api.createKey('viewer', [USER_ID]);
    expect((await api.requestAs(viewer.key, 'GET', `/v1/manual-install-flags/${flag.id}`)).status).toBe(200);
    expect((await api.requestAs(viewer.key, 'POST', `/v1/manual-install-flags/${flag.id}/acknowledge`)).status).toBe(
      403,
    );
    expect((await api.request('GET', '/v1/manual-install-flags/999999999')).status).toBe(404);
    expect((await api.request('GET', '/v1/manual-install-flags/abc')).status).toBe(400);
    expect(
      (await api.request('POST', `/v1/manual-install-flags/${flag.id}/close`, { note: 'x', extra: 1 })).status,
    ).toBe(400);
  });
});
