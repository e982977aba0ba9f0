/** POST /v1/rollouts over real HTTP with real Postgres and Redis: what it records and enqueues, and what it refuses. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { INSERT_CHUNK } from '@fleet/db';
import { limitsConfigKey, publishLimitsConfig } from '@fleet/limits';
import { createLogger } from '@fleet/logger';
import { openInstallQueue } from '@fleet/queue';
import { instanceIds, waitFor } from '@fleet/testing';
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

async function rowCounts() {
  const [rollouts, instances] = await Promise.all([
    api.db.prisma.rollout.count(),
    api.db.prisma.rolloutInstance.count(),
  ]);
  return { rollouts, instances };
}

async function waitingJobs(rolloutId: string) {
  const queue = openInstallQueue(api.redis, rolloutId, api.prefix, quiet);
  try {
    return await queue.getJobs(['waiting', 'prioritized', 'delayed', 'active'], 0, -1);
  } finally {
    await queue.close();
  }
}

describe('POST /v1/rollouts', () => {
  it('records the rollout, de-duplicates instance ids, enqueues one job per instance and answers 202 with Location', async () => {
    const ids = ['i-bp1h4adlltjc1d48goaq', 'i-22jja5c2l', 'i-bp1h4adlltjc1d48goaq', 'i-abcdefgh123456'];
    const res = await api.request('POST', '/v1/rollouts', {
      userId: USER_ID,
      instanceIds: ids,
      force: true,
      concurrency: 2,
    });
    expect(res.status).toBe(202);
    expect(res.headers.get('location')).toBe(`/v1/rollouts/${res.body.id}`);
    expect(res.body).toMatchObject({
      userId: USER_ID,
      status: 'running',
      force: true,
      concurrency: 2,
      duplicatesRemoved: 1,
      counts: { total: 3, pending: 3, in_progress: 0, succeeded: 0, failed: 0, cancelled: 0 },
    });
    const stored = await api.db.prisma.rolloutInstance.findMany({
      where: { rolloutId: res.body.id },
      orderBy: { instanceId: 'asc' },
    });
    expect(stored.map((i) => i.instanceId)).toEqual(['i-22jja5c2l', 'i-abcdefgh123456', 'i-bp1h4adlltjc1d48goaq']);
    expect(stored.every((i) => i.state === 'pending' && i.attemptCount === 0)).toBe(true);
    const jobs = await waitingJobs(res.body.id);
    expect(jobs.map((j) => j.id).sort()).toEqual(['i-22jja5c2l', 'i-abcdefgh123456', 'i-bp1h4adlltjc1d48goaq']);
    expect(Object.keys(jobs[0]!.data).sort()).toEqual(['instanceId', 'rolloutId', 'rolloutInstanceId']);
    const queue = openInstallQueue(api.redis, res.body.id, api.prefix, quiet);
    expect(await queue.getGlobalConcurrency()).toBe(2);
    await queue.close();
  });

  it('stores a 10,000-instance rollout whole and enqueues every instance', async () => {
    const ids = instanceIds(10_000, 'i-bp');
    const res = await api.request('POST', '/v1/rollouts', { userId: USER_ID, instanceIds: ids, concurrency: 50 });
    expect(res.status).toBe(202);
    expect(res.body.counts.total).toBe(10_000);
    expect(await api.db.prisma.rolloutInstance.count({ where: { rolloutId: res.body.id } })).toBe(10_000);
    expect((await waitingJobs(res.body.id)).length).toBe(10_000);
  });

  it('answers a rollout whose enqueue outlasts ENQUEUE_WAIT_MS at once with enqueued false, and enqueues it all in the background', async () => {
    const quick = await startApi({ sharedWith: api, enqueueWaitMs: 0 });
    try {
      const ids = instanceIds(3_000, 'i-bg');
      const res = await quick.request('POST', '/v1/rollouts', { userId: USER_ID, instanceIds: ids, concurrency: 50 });
      expect(res.status).toBe(202);
      expect(res.body).toMatchObject({ enqueued: false, counts: { total: 3_000, pending: 3_000 } });
      // Recorded before the answer: every row is there at once.
      expect(await api.db.prisma.rolloutInstance.count({ where: { rolloutId: res.body.id } })).toBe(3_000);
      const enqueued = await waitFor(
        'enqueued',
        async () => ((await api.request('GET', `/v1/rollouts/${res.body.id}`)).body.enqueued === true ? true : null),
        { timeoutMs: 30_000 },
      );
      expect(enqueued).toBe(true);
      expect(quick.enqueues.running()).toBe(0);
      expect((await waitingJobs(res.body.id)).length).toBe(3_000);
    } finally {
      await quick.close();
    }
  });

  /** The rollout's rows in id order, and its queued jobs' data in the same order (by row id). */
  async function rowsAndJobs(rolloutId: string) {
    const rows = await api.db.prisma.rolloutInstance.findMany({
      where: { rolloutId },
      orderBy: { id: 'asc' },
      select: { id: true, instanceId: true, waveNo: true, state: true },
    });
    const jobs = (await waitingJobs(rolloutId))
      .map((j) => ({ jobId: j.id, ...j.data }))
      .sort((a, b) => Number(a.rolloutInstanceId) - Number(b.rolloutInstanceId));
    const jobOf = (row: (typeof rows)[number]) => ({
      jobId: row.instanceId,
      rolloutId,
      rolloutInstanceId: row.id.toString(),
      instanceId: row.instanceId,
    });
    return { rows, jobs, jobOf };
  }

  it('a size that is not a multiple of the insert chunk: every id stored once in the order given, and exactly one job per row', async () => {
    const ids = instanceIds(2 * INSERT_CHUNK + 345, 'i-cs');
    const res = await api.request('POST', '/v1/rollouts', { userId: USER_ID, instanceIds: ids, concurrency: 50 });
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({
      counts: { total: ids.length, pending: ids.length },
      wave: { current: 1, count: 1 },
      duplicatesRemoved: 0,
    });
    const { rows, jobs, jobOf } = await rowsAndJobs(res.body.id);
    expect(rows.map((r) => r.instanceId)).toEqual(ids);
    expect(rows.every((r) => r.waveNo === 1 && r.state === 'pending')).toBe(true);
    expect(jobs).toEqual(rows.map(jobOf));
    expect((await api.db.prisma.rollout.findUniqueOrThrow({ where: { id: res.body.id } })).enqueuedAt).not.toBeNull();
  });

  it('waves across chunk boundaries: rows get their wave by position, and only the first wave (one past a chunk) is enqueued', async () => {
    const ids = instanceIds(2 * INSERT_CHUNK + 345, 'i-cw');
    // Duplicates are dropped before the waves are planned: the plan counts distinct instances.
    const withRepeats = [...ids.slice(0, 10), ...ids.slice(0, 3), ...ids.slice(10)];
    const res = await api.request('POST', '/v1/rollouts', {
      userId: USER_ID,
      instanceIds: withRepeats,
      concurrency: 50,
      waves: { sizes: [INSERT_CHUNK + 1, 3000] },
    });
    expect(res.status).toBe(202);
    const waveSizes = [INSERT_CHUNK + 1, 3000, ids.length - INSERT_CHUNK - 1 - 3000];
    expect(res.body).toMatchObject({
      counts: { total: ids.length },
      wave: { current: 1, count: waveSizes.length },
      duplicatesRemoved: 3,
    });
    const { rows, jobs, jobOf } = await rowsAndJobs(res.body.id);
    expect(rows.map((r) => r.instanceId)).toEqual(ids);
    const waveOf = (position: number) =>
      position < waveSizes[0]! ? 1 : position < waveSizes[0]! + waveSizes[1]! ? 2 : 3;
    expect(rows.map((r) => r.waveNo)).toEqual(ids.map((_, position) => waveOf(position)));
    expect(jobs).toEqual(rows.slice(0, waveSizes[0]).map(jobOf));
    expect((await api.db.prisma.rollout.findUniqueOrThrow({ where: { id: res.body.id } })).enqueuedAt).not.toBeNull();
  });

  it('answers the 202 (and its Idempotency-Key replay) with the limits GET shows: global cap and account rate, not nulls', async () => {
    // What the workers publish about the limits in force (worker main.ts).
    await publishLimitsConfig(api.redis, api.prefix, { globalConcurrency: 500, accountRateLimitRps: 50 });
    try {
      const body = { userId: USER_ID, instanceIds: ['i-limits1', 'i-limits2'], concurrency: 2 };
      const created = await api.request('POST', '/v1/rollouts', body, { 'idempotency-key': 'limits-1' });
      expect(created.status).toBe(202);
      const limits = { concurrency: 2, globalConcurrency: 500, accountRateLimitRps: 50, accountRateNowRps: 50 };
      expect(created.body.limits).toEqual(limits);
      expect(created.body.parentRolloutId).toBeNull();
      const got = await api.request('GET', `/v1/rollouts/${created.body.id}`);
      expect(got.body.limits).toEqual(limits);
      expect(got.body.parentRolloutId).toBeNull();
      const replayed = await api.request('POST', '/v1/rollouts', body, { 'idempotency-key': 'limits-1' });
      expect(replayed.headers.get('idempotent-replayed')).toBe('true');
      expect(replayed.body.limits).toEqual(limits);
      const paused = await api.request('POST', `/v1/rollouts/${created.body.id}/pause`);
      expect(paused.body.limits).toEqual(limits);
    } finally {
      await api.redis.del(limitsConfigKey(api.prefix));
    }
  });

  it('applies defaults: force false, concurrency 50, retry policy 4 attempts', async () => {
    const res = await api.request('POST', '/v1/rollouts', { userId: USER_ID, instanceIds: ['i-default1'] });
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({
      force: false,
      concurrency: 50,
      policy: { retry: { maxAttempts: 4, baseDelayMs: 1000, maxDelayMs: 60000 } },
    });
  });

  const badBodies: [string, unknown, string][] = [
    ['userId missing', { instanceIds: ['i-abc'] }, 'userId'],
    ['userId as a number', { userId: 1234567898765432, instanceIds: ['i-abc'] }, 'userId'],
    ['userId too short', { userId: '12345', instanceIds: ['i-abc'] }, 'userId'],
    ['instanceIds empty', { userId: USER_ID, instanceIds: [] }, 'instanceIds'],
    ['instanceIds not an array', { userId: USER_ID, instanceIds: 'i-abc' }, 'instanceIds'],
    ['an instance id with upper case', { userId: USER_ID, instanceIds: ['i-abc', 'i-ABC'] }, 'instanceIds[1]'],
    ['an instance id without i- prefix', { userId: USER_ID, instanceIds: ['abc'] }, 'instanceIds[0]'],
    [
      'an instance id with SQL in it',
      { userId: USER_ID, instanceIds: ["i-a'; DROP TABLE rollout;--"] },
      'instanceIds[0]',
    ],
    ['force as a string', { userId: USER_ID, instanceIds: ['i-abc'], force: 'true' }, 'force'],
    ['concurrency zero', { userId: USER_ID, instanceIds: ['i-abc'], concurrency: 0 }, 'concurrency'],
    ['concurrency fractional', { userId: USER_ID, instanceIds: ['i-abc'], concurrency: 1.5 }, 'concurrency'],
    ['an unknown field', { userId: USER_ID, instanceIds: ['i-abc'], status: 'completed' }, 'status'],
    [
      'retry attempts out of range',
      { userId: USER_ID, instanceIds: ['i-abc'], retry: { maxAttempts: 0 } },
      'retry.maxAttempts',
    ],
    ['a JSON array body', [1, 2], '(body)'],
  ];
  it.each(badBodies)(
    'rejects %s with 400 problem+json naming the field, and writes nothing',
    async (_name, body, field) => {
      const before = await rowCounts();
      const res = await api.request('POST', '/v1/rollouts', body);
      expect(res.status).toBe(400);
      expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(res.body).toMatchObject({
        status: 400,
        code: 'validation_failed',
        type: expect.stringContaining('validation_failed'),
      });
      expect(res.body.errors.map((e: { field: string }) => e.field)).toContain(field);
      expect(await rowCounts()).toEqual(before);
    },
  );

  it('rejects more instances than the configured maximum', async () => {
    const small = await startApi({ maxInstancesPerRollout: 3 });
    try {
      const res = await small.request('POST', '/v1/rollouts', { userId: USER_ID, instanceIds: instanceIds(4, 'i-bp') });
      expect(res.status).toBe(400);
      expect(res.body.errors[0].field).toBe('instanceIds');
      expect(await small.db.prisma.rollout.count()).toBe(0);
    } finally {
      await small.close();
    }
  });

  it('answers malformed JSON with 400 and a non-JSON content type with 415', async () => {
    const malformed = await api.request('POST', '/v1/rollouts', '{"userId": "1', {
      'content-type': 'application/json',
    });
    expect(malformed.status).toBe(400);
    expect(malformed.body.code).toBe('malformed_json');
    const form = await api.request('POST', '/v1/rollouts', 'userId=1', {
      'content-type': 'application/x-www-form-urlencoded',
    });
    expect(form.status).toBe(415);
    expect(form.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  });

  it('echoes a given X-Request-Id and makes one when absent', async () => {
    const given = await api.request('GET', '/healthz', undefined, { 'x-request-id': 'trace-abc-123' });
    expect(given.headers.get('x-request-id')).toBe('trace-abc-123');
    const made = await api.request('GET', '/healthz');
    expect(made.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });
});
