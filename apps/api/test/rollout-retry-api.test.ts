/** POST /v1/rollouts/:id/retry over real HTTP with real Postgres and Redis. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { transitionManualInstallFlag } from '@fleet/db';
import { limitsConfigKey, publishLimitsConfig } from '@fleet/limits';
import { createLogger } from '@fleet/logger';
import { openInstallQueue } from '@fleet/queue';
import { instanceIds } from '@fleet/testing';
import { retriedRolloutSchema, rolloutSchema } from '../src/response-schemas.ts';
import { newRollout, rolloutWithFailures } from './rollout-fixtures.ts';
import type { ApiHarness } from './support.ts';
import { startApi, USER_ID } from './support.ts';

const quiet = createLogger({ service: 'api-test', silent: true });
let api: ApiHarness;
beforeAll(async () => {
  api = await startApi();
});
afterAll(async () => {
  await api.close();
});

describe('POST /v1/rollouts/:id/retry', () => {
  it('refuses a rollout that is still running', async () => {
    const rolloutId = await newRollout(api, instanceIds(2, 'i-run'), 'running');
    const res = await api.request('POST', `/v1/rollouts/${rolloutId}/retry`, {});
    expect(res.status).toBe(409);
    expect(res.body.code).toBe('rollout_not_finished');
  });

  it('creates a follow-up rollout of the failed instances, linked to the original and enqueued; one at a time', async () => {
    const { rolloutId, ids } = await rolloutWithFailures(api, 'retry');
    const res = await api.request('POST', `/v1/rollouts/${rolloutId}/retry`, { concurrency: 3 });
    expect(res.status).toBe(202);
    expect(res.headers.get('location')).toBe(`/v1/rollouts/${res.body.id}`);
    expect(res.body).toMatchObject({
      parentRolloutId: rolloutId,
      userId: USER_ID,
      status: 'running',
      concurrency: 3,
      force: true,
      counts: { total: 7, pending: 7 },
      retryOf: { rolloutId, cause: null, instances: 7 },
    });
    const retried = await api.db.prisma.rolloutInstance.findMany({
      where: { rolloutId: res.body.id },
      orderBy: { instanceId: 'asc' },
    });
    expect(retried.map((i) => i.instanceId)).toEqual(ids.slice(0, 7).sort());
    expect(await api.db.prisma.rollout.findUniqueOrThrow({ where: { id: res.body.id } })).toMatchObject({
      parentRolloutId: rolloutId,
      maxAttempts: 3,
    });
    const queue = openInstallQueue(api.redis, res.body.id, api.prefix, quiet);
    expect((await queue.getRanges(['wait'], 0, -1)).sort()).toEqual(ids.slice(0, 7).sort());
    expect(await queue.getGlobalConcurrency()).toBe(3);
    await queue.close();

    const again = await api.request('POST', `/v1/rollouts/${rolloutId}/retry`, {});
    expect(again.status).toBe(409);
    expect(again.body.code).toBe('retry_in_progress');
    const report = await api.request('GET', `/v1/rollouts/${rolloutId}/report`);
    expect(report.body.retries).toEqual([
      expect.objectContaining({ id: res.body.id, status: 'running', totalInstances: 7 }),
    ]);
    expect((await api.request('GET', `/v1/rollouts/${res.body.id}/report`)).body.parentRolloutId).toBe(rolloutId);
  });

  it('shows parentRolloutId on GET and in the listing of a retry (null for the original), and the 202 shows the limits GET shows', async () => {
    const { rolloutId } = await rolloutWithFailures(api, 'link');
    // What the workers publish about the limits in force (worker main.ts).
    await publishLimitsConfig(api.redis, api.prefix, { globalConcurrency: 500, accountRateLimitRps: 50 });
    try {
      const res = await api.request('POST', `/v1/rollouts/${rolloutId}/retry`, {});
      expect(res.status).toBe(202);
      const limits = { concurrency: 7, globalConcurrency: 500, accountRateLimitRps: 50, accountRateNowRps: 50 };
      expect(res.body).toMatchObject({ parentRolloutId: rolloutId, limits });
      const got = await api.request('GET', `/v1/rollouts/${res.body.id}`);
      expect(got.body).toMatchObject({ id: res.body.id, parentRolloutId: rolloutId, limits });
      expect(res.body.limits).toEqual(got.body.limits);
      expect((await api.request('GET', `/v1/rollouts/${rolloutId}`)).body.parentRolloutId).toBeNull();
      const listed = (await api.request('GET', `/v1/rollouts?limit=200`)).body.items as {
        id: string;
        parentRolloutId: string | null;
      }[];
      expect(listed.find((r) => r.id === res.body.id)?.parentRolloutId).toBe(rolloutId);
      expect(listed.find((r) => r.id === rolloutId)?.parentRolloutId).toBeNull();
      retriedRolloutSchema.parse(res.body);
      rolloutSchema.parse(got.body);
    } finally {
      await api.redis.del(limitsConfigKey(api.prefix));
    }
  });

  it('retries one cause, or chosen instances, and leaves instances an operator handled by hand', async () => {
    const { rolloutId, ids } = await rolloutWithFailures(api, 'cause');
    const report = await api.request('GET', `/v1/rollouts/${rolloutId}/report`);
    const notFoundCause = report.body.failures.groups[1].cause;
    const byCause = await api.request('POST', `/v1/rollouts/${rolloutId}/retry`, { cause: notFoundCause });
    expect(byCause.status).toBe(202);
    expect(byCause.body.retryOf).toEqual({ rolloutId, cause: notFoundCause, instances: 2 });
    await api.db.prisma.rollout.update({ where: { id: byCause.body.id }, data: { status: 'completed' } });

    // An operator installed one by hand (resolved) and gave up on another (closed).
    const flags = await api.db.prisma.manualInstallFlag.findMany({
      where: { rolloutId, instanceId: { in: [ids[0]!, ids[1]!] } },
      orderBy: { instanceId: 'asc' },
    });
    await transitionManualInstallFlag(api.db, {
      flagId: flags[0]!.id,
      event: { type: 'resolve' },
      actor: 'ops',
      note: 'done by hand',
    });
    await transitionManualInstallFlag(api.db, { flagId: flags[1]!.id, event: { type: 'close' }, actor: 'ops' });
    const guardCause = report.body.failures.groups[0].cause;
    const chosen = await api.request('POST', `/v1/rollouts/${rolloutId}/retry`, {
      cause: guardCause,
      instanceIds: [ids[2]],
      force: false,
    });
    expect(chosen.status).toBe(202);
    expect(chosen.body).toMatchObject({ force: false, retryOf: { instances: 1 } });
    await api.db.prisma.rollout.update({ where: { id: chosen.body.id }, data: { status: 'completed' } });

    const handled = await api.request('POST', `/v1/rollouts/${rolloutId}/retry`, { instanceIds: [ids[0]] });
    expect(handled.status).toBe(400);
    expect(handled.body.errors).toEqual([expect.objectContaining({ field: 'instanceIds[0]' })]);
    const unknown = await api.request('POST', `/v1/rollouts/${rolloutId}/retry`, { cause: '400: nothing like this' });
    expect(unknown.status).toBe(400);
    expect(unknown.body.errors).toEqual([expect.objectContaining({ field: 'cause' })]);
  });

  it('answers 409 when nothing is left to retry, 400 for unknown fields, 403 for a viewer', async () => {
    const clean = await newRollout(api, instanceIds(3, 'i-clean'));
    const nothing = await api.request('POST', `/v1/rollouts/${clean}/retry`, {});
    expect(nothing.status).toBe(409);
    expect(nothing.body.code).toBe('nothing_to_retry');
    expect((await api.request('POST', `/v1/rollouts/${clean}/retry`, { everything: true })).status).toBe(400);
    const viewer = await api.createKey('viewer', [USER_ID]);
    expect((await api.requestAs(viewer.key, 'POST', `/v1/rollouts/${clean}/retry`, {})).status).toBe(403);
  });
});
