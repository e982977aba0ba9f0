/**
 * Events through the API's real paths: each change made over HTTP writes exactly one event of its type, naming the
 * API key and the request id, and the timeline (GET /v1/rollouts/:id/events) and the audit trail (GET /v1/audit)
 * show them; bad query parameters are refused with a problem naming the parameter.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { insertRollout, listEvents, raiseMissingManualInstallFlags } from '@fleet/db';
import type { FleetEventRecord } from '@fleet/db';
import type { ApiHarness } from './support.ts';
import { startApi, USER_ID } from './support.ts';

let api: ApiHarness;
let operator: { id: string; key: string };
beforeAll(async () => {
  api = await startApi();
  operator = await api.createKey('operator', [USER_ID], 'on-call');
});
afterAll(async () => {
  await api.close();
});

const asOperator = (method: string, path: string, body?: unknown, requestId?: string) =>
  api.requestAs(operator.key, method, path, body, requestId ? { 'x-request-id': requestId } : {});

/** The events of `type` of one rollout, read from the table itself. */
async function eventsOf(rolloutId: string, type?: FleetEventRecord['type']) {
  return (await listEvents(api.db, { rolloutId, limit: 1000, ...(type ? { type } : {}) })).events;
}

const BY_OPERATOR = () => ({ kind: 'api_key', id: operator.id, name: 'on-call' });

async function createRollout(instanceIds: string[], extra: Record<string, unknown> = {}, requestId?: string) {
  const res = await asOperator('POST', '/v1/rollouts', { userId: USER_ID, instanceIds, ...extra }, requestId);
  expect(res.status).toBe(202);
  return res.body.id as string;
}

describe('rollout events written by API routes', () => {
  it('POST /v1/rollouts writes one rollout.created naming the key and the request id, and wave 1 when there are waves', async () => {
    const id = await createRollout(['i-ev1', 'i-ev2', 'i-ev3', 'i-ev4'], { waves: { sizes: [1, 3] } }, 'req-created');
    const created = await eventsOf(id, 'rollout.created');
    expect(created).toHaveLength(1);
    expect(created[0]).toMatchObject({
      userId: USER_ID,
      actor: BY_OPERATOR(),
      requestId: 'req-created',
      data: { totalInstances: 4, waveCount: 2, parentRolloutId: null },
    });
    const waves = await eventsOf(id, 'rollout.wave_started');
    expect(waves.map((e) => e.data)).toEqual([{ wave: 1, waveCount: 2 }]);
  });

  it('pause, resume, PATCH and cancel each write exactly one event; a repeat that changes nothing writes none', async () => {
    const id = await createRollout(['i-ctl1', 'i-ctl2']);
    expect((await asOperator('POST', `/v1/rollouts/${id}/pause`, { reason: 'looks wrong' }, 'req-p')).status).toBe(200);
    expect((await asOperator('POST', `/v1/rollouts/${id}/pause`, {})).body.changed).toBe(false);
    const paused = await eventsOf(id, 'rollout.paused');
    expect(paused).toHaveLength(1);
    expect(paused[0]).toMatchObject({
      requestId: 'req-p',
      actor: BY_OPERATOR(),
      data: { cause: { kind: 'operator' }, reason: 'looks wrong' },
    });

    const patched = await asOperator('PATCH', `/v1/rollouts/${id}`, { concurrency: 3 });
    expect(patched.status).toBe(200);
    const changed = await eventsOf(id, 'rollout.policy_changed');
    expect(changed).toHaveLength(1);
    const { before, after } = changed[0]!.data as { before: { concurrency: unknown }; after: { concurrency: unknown } };
    expect(after.concurrency).toBe(3);
    expect(before.concurrency).not.toBe(3);

    expect((await asOperator('POST', `/v1/rollouts/${id}/resume`)).status).toBe(200);
    expect(await eventsOf(id, 'rollout.resumed')).toHaveLength(1);

    expect((await asOperator('POST', `/v1/rollouts/${id}/cancel`, { reason: 'wrong fleet' })).status).toBe(200);
    expect((await asOperator('POST', `/v1/rollouts/${id}/cancel`)).body.changed).toBe(false);
    const cancelled = await eventsOf(id, 'rollout.cancelled');
    expect(cancelled.map((e) => e.data)).toEqual([{ reason: 'wrong fleet' }]);
    expect(await eventsOf(id, 'rollout.aborted')).toEqual([]);

    const timeline = await api.requestAs(operator.key, 'GET', `/v1/rollouts/${id}/events`);
    expect(timeline.status).toBe(200);
    expect(timeline.body.items.map((e: { type: string }) => e.type)).toEqual([
      'rollout.created',
      'rollout.paused',
      'rollout.policy_changed',
      'rollout.resumed',
      'rollout.cancelled',
    ]);
  });

  it('POST /v1/rollouts/:id/retry writes rollout.retried on the original and the child is created linked to it', async () => {
    const original = await createRollout(['i-rt1', 'i-rt2']);
    await asOperator('POST', `/v1/rollouts/${original}/cancel`);
    await api.db.prisma.rolloutInstance.updateMany({
      where: { rolloutId: original },
      data: { state: 'failed', attemptCount: 1, lastErrorCode: '503', lastErrorMessage: 'ServiceUnavailable' },
    });
    const retry = await asOperator('POST', `/v1/rollouts/${original}/retry`, {}, 'req-retry');
    expect(retry.status).toBe(202);
    const child = retry.body.id as string;
    const retried = await eventsOf(original, 'rollout.retried');
    expect(retried).toHaveLength(1);
    expect(retried[0]).toMatchObject({ requestId: 'req-retry', data: { childRolloutId: child, instances: 2 } });
    const created = await eventsOf(child, 'rollout.created');
    expect(created).toHaveLength(1);
    expect(created[0]!.data).toMatchObject({ parentRolloutId: original });
    expect((await api.db.prisma.rollout.findUniqueOrThrow({ where: { id: child } })).parentRolloutId).toBe(original);
  });
});

describe('flag events written by API routes', () => {
  it('acknowledge, resolve and close each write exactly one flag event on the rollout of the flag', async () => {
    const { rollout } = await insertRollout(api.db, {
      userId: USER_ID,
      force: false,
      concurrency: 2,
      maxAttempts: 1,
      policy: {},
      instanceIds: ['i-fl1', 'i-fl2'],
    });
    await api.db.prisma.rolloutInstance.updateMany({
      where: { rolloutId: rollout.id },
      data: { state: 'failed', needsManualInstall: true, manualInstallReason: 'no_server_guard_agent' },
    });
    await raiseMissingManualInstallFlags(api.db, rollout.id);
    const flags = await api.db.prisma.manualInstallFlag.findMany({
      where: { rolloutId: rollout.id },
      orderBy: { id: 'asc' },
    });
    const [first, second] = flags.map((f) => f.id.toString());
    const move = (flagId: string, action: string) =>
      asOperator('POST', `/v1/manual-install-flags/${flagId}/${action}`, { note: `${action}d` }, `req-${action}`);
    expect((await move(first!, 'acknowledge')).status).toBe(200);
    expect((await move(first!, 'acknowledge')).status).toBe(200);
    expect((await move(first!, 'resolve')).status).toBe(200);
    expect((await move(second!, 'close')).status).toBe(200);
    for (const [type, flagId, from, to] of [
      ['flag.acknowledged', first, 'open', 'acknowledged'],
      ['flag.resolved', first, 'acknowledged', 'resolved'],
      ['flag.closed', second, 'open', 'closed'],
    ] as const) {
      const events = await eventsOf(rollout.id, type);
      expect(events, type).toHaveLength(1);
      expect(events[0]).toMatchObject({ actor: BY_OPERATOR(), data: { flagId, from, to } });
    }
  });
});

describe('API key events and the audit trail', () => {
  it('making and revoking a key through the API writes api_key.created and api_key.revoked, never the key', async () => {
    const admin = await api.createKey('admin', [USER_ID], 'key admin');
    const made = await api.requestAs(admin.key, 'POST', '/v1/api-keys', {
      name: 'ci',
      role: 'viewer',
      userIds: [USER_ID],
    });
    expect(made.status).toBe(201);
    expect((await api.requestAs(admin.key, 'DELETE', `/v1/api-keys/${made.body.id}`)).status).toBe(204);
    expect((await api.requestAs(admin.key, 'DELETE', `/v1/api-keys/${made.body.id}`)).status).toBe(204);
    const audit = await api.requestAs(admin.key, 'GET', `/v1/audit?actorKeyId=${admin.id}`);
    expect(audit.status).toBe(200);
    expect(audit.body.items.map((e: { type: string }) => e.type)).toEqual(['api_key.created', 'api_key.revoked']);
    expect(audit.body.items[0]).toMatchObject({
      rolloutId: null,
      userId: null,
      actor: { kind: 'api_key', id: admin.id, name: 'key admin' },
      data: { keyId: made.body.id, name: 'ci', role: 'viewer', userIds: [USER_ID], allAccounts: false },
    });
    expect(JSON.stringify(audit.body)).not.toContain(made.body.key);
    // A viewer of the account reads the trail too, filtered by type and account.
    const viewer = await api.createKey('viewer', [USER_ID], 'auditor');
    const revoked = await api.requestAs(viewer.key, 'GET', `/v1/audit?type=api_key.revoked&userId=${USER_ID}`);
    expect(revoked.status).toBe(200);
    expect(revoked.body.items.map((e: { data: { keyId: string } }) => e.data.keyId)).toContain(made.body.id);
    expect(revoked.body.items.every((e: { type: string }) => e.type === 'api_key.revoked')).toBe(true);
  });

  it('pages the audit trail oldest first with nextCursor as `after`', async () => {
    const first = await api.request('GET', '/v1/audit?limit=2');
    expect(first.status).toBe(200);
    expect(first.body.items).toHaveLength(2);
    expect(Number(first.body.items[0].id)).toBeLessThan(Number(first.body.items[1].id));
    const next = await api.request('GET', `/v1/audit?limit=2&after=${first.body.nextCursor}`);
    expect(Number(next.body.items[0].id)).toBeGreaterThan(Number(first.body.items[1].id));
    expect(next.body.items.every((e: { actor: { kind: string } }) => e.actor.kind === 'api_key')).toBe(true);
  });

  it('refuses bad query parameters with a problem naming the parameter, what is allowed and the value', async () => {
    const rolloutId = await createRollout(['i-badq']);
    for (const [path, field, shown] of [
      [`/v1/rollouts/${rolloutId}/events?after=-1`, 'after', '"-1"'],
      [`/v1/rollouts/${rolloutId}/events?limit=0`, 'limit', '0'],
      [`/v1/rollouts/${rolloutId}/events?since=1`, 'since', ''],
      ['/v1/audit?type=rollout.exploded', 'type', '"rollout.exploded"'],
      ['/v1/audit?actorKeyId=nope', 'actorKeyId', '"nope"'],
      ['/v1/audit?userId=12', 'userId', '"12"'],
      ['/v1/audit?after=1e3', 'after', '"1e3"'],
    ] as const) {
      const res = await api.request('GET', path);
      expect(res.status, path).toBe(400);
      expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      const error = res.body.errors.find((e: { field: string }) => e.field === field);
      expect(error, `${path}: ${JSON.stringify(res.body.errors)}`).toMatchObject({ in: 'query' });
      if (shown) expect(error.message, path).toContain(`got ${shown}`);
    }
    const typeError = (await api.request('GET', '/v1/audit?type=rollout.exploded')).body.errors[0];
    expect(typeError.message).toContain('rollout.paused');
  });
});
