import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listEvents } from '@fleet/db';
import { createLogger } from '@fleet/logger';
import { openInstallQueue } from '@fleet/queue';
import type { ApiHarness } from './support.ts';
import { startApi, USER_ID } from './support.ts';
import { instanceIds } from '@fleet/testing';

const quiet = createLogger({ service: 'api-test', silent: true });
let api: ApiHarness;
beforeAll(async () => {
  api = await startApi();
});
afterAll(async () => {
  await api.close();
});

function queueOf(rolloutId: string) {
  return openInstallQueue(api.redis, rolloutId, api.prefix, quiet);
}

async function create(body: Record<string, unknown> = {}) {
  const res = await api.request('POST', '/v1/rollouts', {
    userId: USER_ID,
    instanceIds: instanceIds(40, 'i-ctl'),
    ...body,
  });
  expect(res.status).toBe(202);
  return res.body;
}

describe('rollout policy at creation', () => {
  it('resolves a percentage concurrency, plans waves and enqueues only the first wave', async () => {
    const created = await create({
      concurrency: '10%',
      waves: { sizes: [2, '25%'] },
      waveSuccessThresholdPercent: 95,
      abort: { failureThresholdPercent: 20 },
      instanceTimeoutMs: 60_000,
    });
    expect(created).toMatchObject({ concurrency: 4, wave: { current: 1, count: 5 }, limits: { concurrency: 4 } });
    expect(created.policy).toMatchObject({
      concurrency: '10%',
      waves: { sizes: [2, '25%'] },
      waveSuccessThresholdPercent: 95,
      abort: { failureThresholdPercent: 20, minFinished: 10 },
      instanceTimeoutMs: 60_000,
    });
    const queue = queueOf(created.id);
    expect((await queue.getWaiting()).map((j) => j.id).sort()).toEqual(['i-ctl00000', 'i-ctl00001']);
    expect(await queue.getGlobalConcurrency()).toBe(4);
    await queue.close();
    const waves = await api.db.prisma.rolloutInstance.groupBy({
      by: ['waveNo'],
      where: { rolloutId: created.id },
      _count: true,
      orderBy: { waveNo: 'asc' },
    });
    expect(waves.map((w) => w._count)).toEqual([2, 10, 10, 10, 8]);
    const status = await api.request('GET', `/v1/rollouts/${created.id}`);
    expect(status.body).toMatchObject({ wave: { current: 1, count: 5 }, limits: { concurrency: 4 } });
  });

  it.each([
    ['a zero percentage', { concurrency: '0%' }, 'concurrency'],
    ['a percentage above 100', { concurrency: '150%' }, 'concurrency'],
    ['a concurrency above 10000', { concurrency: 20000 }, 'concurrency'],
    ['waves with an empty list', { waves: { sizes: [] } }, 'waves'],
    ['waves mixing both forms', { waves: { sizes: [1], canary: 1, growthFactor: 2 } }, 'waves'],
    ['a growth factor of 1', { waves: { canary: 1, growthFactor: 1 } }, 'waves'],
    ['an abort threshold of 0', { abort: { failureThresholdPercent: 0 } }, 'abort.failureThresholdPercent'],
    ['an instance timeout under a second', { instanceTimeoutMs: 10 }, 'instanceTimeoutMs'],
  ])('refuses %s with 400 naming the field', async (_name, extra, field) => {
    const res = await api.request('POST', '/v1/rollouts', { userId: USER_ID, instanceIds: ['i-bad'], ...extra });
    expect(res.status).toBe(400);
    expect(res.body.errors.map((e: { field: string }) => e.field).some((f: string) => f.startsWith(field))).toBe(true);
  });
});

describe('operator actions', () => {
  it('pause, resume and cancel are idempotent, answer the new status, and 409 where the state does not allow them', async () => {
    const created = await create({ concurrency: 5 });
    const path = `/v1/rollouts/${created.id}`;
    const queue = queueOf(created.id);

    const paused = await api.request('POST', `${path}/pause`, { reason: 'looking at canary' });
    expect(paused.status).toBe(200);
    expect(paused.body).toMatchObject({ status: 'paused', statusReason: 'looking at canary', changed: true });
    expect(await queue.isPaused()).toBe(true);
    const again = await api.request('POST', `${path}/pause`);
    expect(again.body).toMatchObject({ status: 'paused', changed: false });

    const resumed = await api.request('POST', `${path}/resume`);
    expect(resumed.body).toMatchObject({ status: 'running', changed: true, statusReason: null });
    expect(await queue.isPaused()).toBe(false);
    expect((await api.request('POST', `${path}/resume`)).body).toMatchObject({ status: 'running', changed: false });

    const cancelled = await api.request('POST', `${path}/cancel`, { reason: 'wrong fleet' });
    expect(cancelled.body).toMatchObject({
      status: 'cancelled',
      statusReason: 'wrong fleet',
      changed: true,
      counts: { cancelled: 40, pending: 0 },
    });
    expect(await queue.count()).toBe(0);
    expect((await api.request('POST', `${path}/cancel`)).body).toMatchObject({ status: 'cancelled', changed: false });

    const refused = await api.request('POST', `${path}/resume`);
    expect(refused.status).toBe(409);
    expect(refused.body).toMatchObject({ code: 'rollout_state_conflict' });
    expect((await api.request('POST', `${path}/pause`)).status).toBe(409);
    expect((await api.request('PATCH', path, { concurrency: 3 })).status).toBe(409);
    await queue.close();
  });

  it("resume keeps the operator's reason as statusReason and in rollout.resumed's data", async () => {
    const created = await create({ concurrency: 5 });
    const path = `/v1/rollouts/${created.id}`;
    await api.request('POST', `${path}/pause`, { reason: 'looking at canary' });
    const resumed = await api.request('POST', `${path}/resume`, { reason: 'canary looks fine' });
    expect(resumed.body).toMatchObject({ status: 'running', changed: true, statusReason: 'canary looks fine' });
    const { events } = await listEvents(api.db, { rolloutId: created.id, type: 'rollout.resumed', limit: 10 });
    expect(events.map((e) => e.data)).toEqual([{ wave: 1, reason: 'canary looks fine' }]);
    await api.request('POST', `${path}/cancel`);
  });

  it('PATCH changes the policy of a live rollout and the cross-worker concurrency in Redis', async () => {
    const created = await create({ concurrency: 5 });
    const path = `/v1/rollouts/${created.id}`;
    const res = await api.request('PATCH', path, {
      concurrency: '50%',
      retry: { maxAttempts: 2 },
      abort: { failureThresholdPercent: 10, minFinished: 5 },
      instanceTimeoutMs: null,
    });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      concurrency: 20,
      policy: {
        concurrency: '50%',
        retry: { maxAttempts: 2, baseDelayMs: 1000 },
        abort: { failureThresholdPercent: 10, minFinished: 5 },
        instanceTimeoutMs: null,
      },
    });
    const queue = queueOf(created.id);
    expect(await queue.getGlobalConcurrency()).toBe(20);
    await queue.close();
    expect((await api.db.prisma.rollout.findUniqueOrThrow({ where: { id: created.id } })).maxAttempts).toBe(2);
    const removed = await api.request('PATCH', path, { abort: null });
    expect(removed.body.policy.abort).toBeNull();
  });

  it.each([
    ['an empty body', {}, '(body)'],
    ['an unknown field', { status: 'completed' }, 'status'],
    ['waves (not changeable live)', { waves: { sizes: [1] } }, 'waves'],
    ['a bad concurrency', { concurrency: -1 }, 'concurrency'],
  ])('PATCH refuses %s with 400 and changes nothing', async (_name, body, field) => {
    const created = await create({ concurrency: 5 });
    const res = await api.request('PATCH', `/v1/rollouts/${created.id}`, body);
    expect(res.status).toBe(400);
    expect(res.body.errors.map((e: { field: string }) => e.field)).toContain(field);
    expect((await api.db.prisma.rollout.findUniqueOrThrow({ where: { id: created.id } })).concurrency).toBe(5);
  });

  it('refuses a reason that is not a short string', async () => {
    const created = await create();
    const res = await api.request('POST', `/v1/rollouts/${created.id}/pause`, { reason: 'x'.repeat(501) });
    expect(res.status).toBe(400);
    expect((await api.request('POST', `/v1/rollouts/${created.id}/pause`, { why: 'x' })).status).toBe(400);
    expect((await api.db.prisma.rollout.findUniqueOrThrow({ where: { id: created.id } })).status).toBe('running');
  });

  it('lets an operator key pause, change and cancel (on-call can stop a bad rollout), and refuses a viewer key', async () => {
    const created = await create();
    const viewer = (await api.createKey('viewer', [USER_ID])).key;
    const operator = (await api.createKey('operator', [USER_ID])).key;
    expect((await api.requestAs(viewer, 'POST', `/v1/rollouts/${created.id}/pause`)).status).toBe(403);
    const refused = await api.requestAs(viewer, 'POST', `/v1/rollouts/${created.id}/cancel`);
    expect(refused.status).toBe(403);
    expect(refused.body.detail).toBe('This operation needs the operator role; this API key has the viewer role');
    expect((await api.db.prisma.rollout.findUniqueOrThrow({ where: { id: created.id } })).status).toBe('running');
    expect((await api.requestAs(operator, 'POST', `/v1/rollouts/${created.id}/pause`)).status).toBe(200);
    expect((await api.requestAs(operator, 'PATCH', `/v1/rollouts/${created.id}`, { concurrency: 2 })).status).toBe(200);
    const other = (await api.createKey('admin', ['9999999999999999'])).key;
    expect((await api.requestAs(other, 'POST', `/v1/rollouts/${created.id}/cancel`)).status).toBe(404);
    const cancelled = await api.requestAs(operator, 'POST', `/v1/rollouts/${created.id}/cancel`, { reason: 'on-call' });
    expect(cancelled.status).toBe(200);
    expect(cancelled.body).toMatchObject({ status: 'cancelled', statusReason: 'on-call', changed: true });
    // API keys stay admin-only.
    expect((await api.requestAs(operator, 'GET', '/v1/api-keys')).status).toBe(403);
  });

  it('documents cancel as an operator action in the OpenAPI document and its role table', async () => {
    const doc = (await api.requestAs(null, 'GET', '/openapi.json')).body;
    expect(doc.paths['/v1/rollouts/{id}/cancel'].post['x-required-role']).toBe('operator');
    expect(doc.paths['/v1/api-keys'].post['x-required-role']).toBe('admin');
    expect(doc.info.description).toContain('`operator` also creates, pauses, resumes, cancels and retries rollouts');
    expect(doc.info.description).toContain('`admin` also manages API keys');
  });
});
