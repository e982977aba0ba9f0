/**
 * The read routes of rollouts over real HTTP with real Postgres and Redis: GET of a rollout, its instances and one
 * instance, the listing, and health.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { claimAttempt, finishAttempt } from '@fleet/db';
import { instanceIds } from '@fleet/testing';
import type { ApiHarness, ApiResponse } from './support.ts';
import { startApi, USER_ID } from './support.ts';

let api: ApiHarness;
beforeAll(async () => {
  api = await startApi();
});
afterAll(async () => {
  await api.close();
});

describe('GET rollout, instances and instance', () => {
  it('returns the rollout with counts per state, 404 for an unknown id and 400 for a malformed one', async () => {
    const created = await api.request('POST', '/v1/rollouts', { userId: USER_ID, instanceIds: ['i-get1', 'i-get2'] });
    const res = await api.request('GET', `/v1/rollouts/${created.body.id}`);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      id: created.body.id,
      userId: USER_ID,
      status: 'running',
      force: false,
      counts: { total: 2, pending: 2 },
    });
    expect(typeof res.body.createdAt).toBe('string');
    const unknown = await api.request('GET', '/v1/rollouts/00000000-0000-4000-8000-000000000000');
    expect(unknown.status).toBe(404);
    expect(unknown.body.code).toBe('not_found');
    const malformed = await api.request('GET', '/v1/rollouts/not-a-uuid');
    expect(malformed.status).toBe(400);
  });

  it('pages through instances with a cursor, filters by state, and rejects a forged cursor', async () => {
    const ids = instanceIds(7, 'i-page');
    const created = await api.request('POST', '/v1/rollouts', { userId: USER_ID, instanceIds: ids });
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const res: ApiResponse = await api.request(
        'GET',
        `/v1/rollouts/${created.body.id}/instances?limit=3${cursor ? `&cursor=${cursor}` : ''}`,
      );
      expect(res.status).toBe(200);
      seen.push(...res.body.items.map((i: { instanceId: string }) => i.instanceId));
      cursor = res.body.nextCursor;
      pages++;
    } while (cursor);
    expect(pages).toBe(3);
    expect(seen).toEqual(ids);
    const first = await api.db.prisma.rolloutInstance.findFirstOrThrow({
      where: { rolloutId: created.body.id, instanceId: ids[0]! },
    });
    await api.db.prisma.rolloutInstance.update({
      where: { id: first.id },
      data: { state: 'failed', lastErrorCode: '400', lastErrorMessage: 'nope' },
    });
    const failed = await api.request('GET', `/v1/rollouts/${created.body.id}/instances?state=failed`);
    expect(failed.body.items).toHaveLength(1);
    expect(failed.body.items[0]).toMatchObject({
      instanceId: ids[0],
      state: 'failed',
      lastError: { code: '400', message: 'nope' },
    });
    const badState = await api.request('GET', `/v1/rollouts/${created.body.id}/instances?state=done`);
    expect(badState.status).toBe(400);
    expect(badState.body.errors[0].field).toBe('state');
    const forged = await api.request('GET', `/v1/rollouts/${created.body.id}/instances?cursor=abc`);
    expect(forged.status).toBe(400);
    const badLimit = await api.request('GET', `/v1/rollouts/${created.body.id}/instances?limit=100000`);
    expect(badLimit.status).toBe(400);
  });

  it('returns one instance with all its attempts and their RequestIds', async () => {
    const created = await api.request('POST', '/v1/rollouts', { userId: USER_ID, instanceIds: ['i-detail1'] });
    const instance = await api.db.prisma.rolloutInstance.findFirstOrThrow({ where: { rolloutId: created.body.id } });
    const claim = await claimAttempt(api.db, {
      rolloutInstanceId: instance.id,
      rolloutId: created.body.id,
      workerId: 'w1',
      staleAfterMs: 10_000,
    });
    if (claim.kind !== 'claimed') throw new Error('expected a claim');
    await finishAttempt(api.db, {
      rolloutInstanceId: instance.id,
      attemptId: claim.attemptId,
      attemptNo: claim.attemptNo,
      maxAttempts: 3,
      nextAttemptAt: new Date(),
      answer: {
        finishedAt: new Date(),
        durationMs: 12,
        httpStatus: 503,
        success: null,
        errorCode: 'ServiceUnavailable',
        errorMessage: 'busy',
        requestId: 'REQ-1',
        outcome: 'retryable',
        outcomeKind: 'retryable',
      },
    });
    const res = await api.request('GET', `/v1/rollouts/${created.body.id}/instances/i-detail1`);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      instanceId: 'i-detail1',
      state: 'pending',
      attemptCount: 1,
      lastRequestId: 'REQ-1',
    });
    expect(res.body.attempts).toEqual([
      expect.objectContaining({
        attemptNo: 1,
        httpStatus: 503,
        errorCode: 'ServiceUnavailable',
        requestId: 'REQ-1',
        outcome: 'retryable',
        durationMs: 12,
      }),
    ]);
    const missing = await api.request('GET', `/v1/rollouts/${created.body.id}/instances/i-nothere`);
    expect(missing.status).toBe(404);
  });
});

describe('GET /v1/rollouts', () => {
  it('lists the rollouts newest first in pages, filters by account and status, and rejects a forged cursor', async () => {
    const other = '9999999999999999';
    const mine: string[] = [];
    for (let i = 0; i < 5; i++)
      mine.push((await api.request('POST', '/v1/rollouts', { userId: other, instanceIds: [`i-list${i}`] })).body.id);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const res: ApiResponse = await api.request(
        'GET',
        `/v1/rollouts?userId=${other}&limit=2${cursor ? `&cursor=${cursor}` : ''}`,
      );
      expect(res.status).toBe(200);
      expect(res.body.items.length).toBeLessThanOrEqual(2);
      seen.push(...res.body.items.map((r: { id: string }) => r.id));
      cursor = res.body.nextCursor;
    } while (cursor);
    // Newest first; rollouts made in the same millisecond are ordered by id.
    const expected = (
      await api.db.prisma.rollout.findMany({
        where: { userId: other },
        orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
      })
    ).map((r) => r.id);
    expect(seen).toEqual(expected);
    expect(new Set(seen)).toEqual(new Set(mine));
    const first = (await api.request('GET', `/v1/rollouts?userId=${other}&limit=1`)).body.items[0];
    expect(first).toMatchObject({
      id: expected[0],
      userId: other,
      status: 'running',
      totalInstances: 1,
      enqueued: true,
    });
    await api.db.prisma.rollout.update({ where: { id: mine[0]! }, data: { status: 'cancelled' } });
    const cancelled = await api.request('GET', `/v1/rollouts?userId=${other}&status=cancelled`);
    expect(cancelled.body.items.map((r: { id: string }) => r.id)).toEqual([mine[0]]);
    for (const bad of [
      'status=done',
      'limit=0',
      'limit=201',
      'cursor=abc',
      'userId=123',
      'sort=id',
      'limit=1&limit=2',
    ]) {
      const res = await api.request('GET', `/v1/rollouts?${bad}`);
      expect(res.status, bad).toBe(400);
      expect(res.body.code).toBe('validation_failed');
    }
  });
});

describe('health', () => {
  it('reports ready when Postgres and Redis answer', async () => {
    expect((await api.request('GET', '/healthz')).status).toBe(200);
    const ready = await api.request('GET', '/readyz');
    expect(ready.status).toBe(200);
    expect(ready.body.dependencies).toEqual({ postgres: 'up', redis: 'up' });
  });

  it('with Redis unreachable: /readyz names redis, POST answers 503 quickly and writes nothing', async () => {
    const down = await startApi({ redisUrl: 'redis://127.0.0.1:1' });
    try {
      const ready = await down.request('GET', '/readyz');
      expect(ready.status).toBe(503);
      expect(ready.body.dependencies).toEqual({ postgres: 'up', redis: 'down' });
      const started = Date.now();
      const res = await down.request('POST', '/v1/rollouts', { userId: USER_ID, instanceIds: ['i-abc'] });
      expect(res.status).toBe(503);
      expect(res.body.code).toBe('redis_unavailable');
      expect(Date.now() - started).toBeLessThan(5000);
      expect(await down.db.prisma.rollout.count()).toBe(0);
    } finally {
      await down.close();
    }
  });

  it('answers unknown routes with a 404 problem', async () => {
    const res = await api.request('GET', '/v2/nothing');
    expect(res.status).toBe(404);
    expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  });
});
