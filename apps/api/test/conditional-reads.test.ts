/**
 * ETag / If-None-Match on GET /v1/rollouts/:id and GET /v1/rollouts/:id/report, over real HTTP with real Postgres
 * and Redis: 200 with an ETag, 304 with no body when If-None-Match names it, and 200 with another ETag once anything
 * the body shows has changed (an instance, the rollout's status, the limits in force).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { insertRollout } from '@fleet/db';
import { limitsConfigKey, publishLimitsConfig } from '@fleet/limits';
import { instanceIds } from '@fleet/testing';
import type { ApiHarness, ApiResponse } from './support.ts';
import { startApi, USER_ID } from './support.ts';

let api: ApiHarness;
beforeAll(async () => {
  api = await startApi();
});
afterAll(async () => {
  await api.redis.del(limitsConfigKey(api.prefix));
  await api.close();
});

/**
 * A running rollout made an hour ago whose instances but the last succeeded an hour ago: nothing finished in the last
 * minute and one is left, so its progress shows no rate and no ETA and its status body does not depend on the time of
 * the request. (With every instance final, `etaSeconds` is 0 and `etaAt` is the request's second.)
 */
async function quietRollout(size = 4): Promise<{ id: string; instances: string[] }> {
  const ids = instanceIds(size, 'cond');
  const { rollout } = await insertRollout(api.db, {
    userId: USER_ID,
    force: true,
    concurrency: 2,
    maxAttempts: 2,
    policy: { concurrency: 2, retry: { maxAttempts: 2, baseDelayMs: 1000, maxDelayMs: 60000 } },
    instanceIds: ids,
  });
  const anHourAgo = new Date(Date.now() - 3_600_000);
  await api.db.prisma.rolloutInstance.updateMany({
    where: { rolloutId: rollout.id, instanceId: { not: ids.at(-1)! } },
    data: { state: 'succeeded', attemptCount: 1, finishedAt: anHourAgo },
  });
  await api.db.prisma.rollout.update({
    where: { id: rollout.id },
    data: { enqueuedAt: anHourAgo, createdAt: new Date(anHourAgo.getTime() - 60_000) },
  });
  return { id: rollout.id, instances: ids };
}

const conditional = (path: string, etag: string) => api.request('GET', path, undefined, { 'if-none-match': etag });

function expectValidated(res: ApiResponse): string {
  expect(res.status).toBe(200);
  const etag = res.headers.get('etag');
  expect(etag).toMatch(/^"[A-Za-z0-9_-]{22}"$/);
  expect(res.headers.get('cache-control')).toBe('private, no-cache');
  return etag!;
}

function expectNotModified(res: ApiResponse, etag: string): void {
  expect(res.status).toBe(304);
  expect(res.body).toBeNull();
  expect(res.headers.get('etag')).toBe(etag);
}

describe('GET /v1/rollouts/:id', () => {
  it('answers 200 with an ETag, 304 with no body on If-None-Match, and 200 with a new ETag after an instance fails', async () => {
    const { id, instances } = await quietRollout();
    const path = `/v1/rollouts/${id}`;
    const first = await api.request('GET', path);
    const etag = expectValidated(first);
    expect(first.body.counts).toMatchObject({ succeeded: 3, pending: 1, failed: 0 });
    expect(first.body.progress).toMatchObject({ ratePerSecond: 0, etaSeconds: null, etaAt: null });

    expectNotModified(await conditional(path, etag), etag);
    // A list of tags, the weak form of the same tag and `*` match too (RFC 9110 weak comparison for If-None-Match).
    expectNotModified(await conditional(path, `"other", ${etag}`), etag);
    expectNotModified(await conditional(path, `W/${etag}`), etag);
    expectNotModified(await conditional(path, '*'), etag);
    // Another tag is not a match: the same body again, with the same tag.
    const again = await conditional(path, '"not-this-one"');
    expect(again.body).toEqual(first.body);
    expect(expectValidated(again)).toBe(etag);

    await api.db.prisma.rolloutInstance.updateMany({
      where: { rolloutId: id, instanceId: instances[0]! },
      data: { state: 'failed', lastErrorCode: 'Boom', lastErrorMessage: 'boom' },
    });
    const changed = await conditional(path, etag);
    const newEtag = expectValidated(changed);
    expect(newEtag).not.toBe(etag);
    expect(changed.body.counts).toMatchObject({ succeeded: 2, pending: 1, failed: 1 });
    expectNotModified(await conditional(path, newEtag), newEtag);
  });

  it('changes the ETag when the rollout is paused and when the limits in force change', async () => {
    const { id } = await quietRollout();
    const path = `/v1/rollouts/${id}`;
    const etag = expectValidated(await api.request('GET', path));

    expect((await api.request('POST', `/v1/rollouts/${id}/pause`, {})).status).toBe(200);
    const paused = await conditional(path, etag);
    const pausedEtag = expectValidated(paused);
    expect(paused.body.status).toBe('paused');
    expect(pausedEtag).not.toBe(etag);

    await publishLimitsConfig(api.redis, api.prefix, { globalConcurrency: 321, accountRateLimitRps: 12 });
    try {
      const limited = await conditional(path, pausedEtag);
      expect(expectValidated(limited)).not.toBe(pausedEtag);
      expect(limited.body.limits).toMatchObject({ globalConcurrency: 321, accountRateLimitRps: 12 });
    } finally {
      await api.redis.del(limitsConfigKey(api.prefix));
    }
  });

  it('answers 304 in a later second for a rollout that completed less than a minute ago', async () => {
    // Its progress window was its age as of the request, so its body (windowSeconds) changed every second until it
    // was a minute old, and no poller of a rollout that had just finished got a 304. It ends at the finish now.
    const { id } = await quietRollout();
    const finishedAt = new Date(Date.now() - 2_000);
    await api.db.prisma.rolloutInstance.updateMany({
      where: { rolloutId: id, state: 'pending' },
      data: { state: 'succeeded', attemptCount: 1, finishedAt },
    });
    await api.db.prisma.rollout.update({
      where: { id },
      data: { status: 'completed', finishedAt, createdAt: new Date(finishedAt.getTime() - 10_000) },
    });
    const path = `/v1/rollouts/${id}`;
    const first = await api.request('GET', path);
    const etag = expectValidated(first);
    expect(first.body.progress).toMatchObject({
      fraction: 1,
      ratePerSecond: null,
      etaSeconds: null,
      windowSeconds: 10,
    });
    // Into the next whole second: the time-dependent fields are computed as of the request's second.
    await new Promise((resolve) => setTimeout(resolve, 1_050 - (Date.now() % 1_000)));
    expectNotModified(await conditional(path, etag), etag);
  });

  it('answers 404, not 304, for a rollout the key may not see, whatever If-None-Match says', async () => {
    const { id } = await quietRollout();
    const etag = expectValidated(await api.request('GET', `/v1/rollouts/${id}`));
    const outsider = await api.createKey('viewer', ['9999999999999999']);
    const res = await api.requestAs(outsider.key, 'GET', `/v1/rollouts/${id}`, undefined, { 'if-none-match': etag });
    expect(res.status).toBe(404);
  });
});

describe('GET /v1/rollouts/:id/report', () => {
  /**
   * The report shows when it was made (`generatedAt`, to the second), which its weak validator leaves out: a report
   * asked for again in a later second, with nothing else changed, is a 304.
   */
  async function notModifiedInALaterSecond(path: string): Promise<string> {
    const first = await api.request('GET', path);
    expect(first.status).toBe(200);
    const etag = first.headers.get('etag')!;
    expect(etag).toMatch(/^W\/"[A-Za-z0-9_-]{22}"$/);
    expect(first.headers.get('cache-control')).toBe('private, no-cache');
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const again = await api.request('GET', path);
    expect(again.body.generatedAt).not.toBe(first.body.generatedAt);
    expect(again.headers.get('etag')).toBe(etag);
    expectNotModified(await conditional(path, etag), etag);
    return etag;
  }

  it('answers 200 with an ETag, 304 on If-None-Match, and 200 with a new ETag after a failure', async () => {
    const { id, instances } = await quietRollout();
    const path = `/v1/rollouts/${id}/report`;
    const etag = await notModifiedInALaterSecond(path);

    await api.db.prisma.rolloutInstance.updateMany({
      where: { rolloutId: id, instanceId: instances[1]! },
      data: { state: 'failed', lastErrorCode: 'InvalidInstanceId.NotFound', lastErrorMessage: 'no such instance' },
    });
    const changed = await conditional(path, etag);
    expect(changed.status).toBe(200);
    expect(changed.headers.get('etag')).not.toBe(etag);
    expect(changed.body.failures).toMatchObject({ total: 1, causes: 1 });
    expect(changed.body.failures.groups[0]).toMatchObject({
      cause: 'InvalidInstanceId.NotFound: no such instance',
      count: 1,
      instances: [expect.objectContaining({ instanceId: instances[1] })],
    });
    await notModifiedInALaterSecond(path);
  });

  it('sends the CSV without a validator: If-None-Match does not make it a 304', async () => {
    const { id } = await quietRollout();
    const res = await api.request('GET', `/v1/rollouts/${id}/report?format=csv`, undefined, { 'if-none-match': '*' });
    expect(res.status).toBe(200);
    expect(res.headers.get('etag')).toBeNull();
  });
});
