/**
 * What a 400 and a 413 tell the client: the field, where it is (`in`), what is allowed and the value refused; the
 * size limit. Over real HTTP.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApiHarness } from './support.ts';
import { startApi, USER_ID } from './support.ts';

const CONCURRENCY = 'must be an integer from 1 to 10000, or a percentage such as "10%"';
const INSTANCE_ID = 'must be an ECS instance id: "i-" followed by lowercase letters and digits';
const BODY_LIMIT = 4096;

let api: ApiHarness;
beforeAll(async () => {
  api = await startApi({ bodyLimitBytes: BODY_LIMIT });
});
afterAll(async () => {
  await api.close();
});

async function create(body: Record<string, unknown>) {
  const res = await api.request('POST', '/v1/rollouts', { userId: USER_ID, instanceIds: ['i-msg1'], ...body });
  expect(res.status).toBe(400);
  expect(res.body.code).toBe('validation_failed');
  return res.body;
}

describe('a refused concurrency says the allowed range', () => {
  it.each([
    [0, '0'],
    [10_001, '10001'],
    [1.5, '1.5'],
    [-3, '-3'],
    ['abc', '"abc"'],
    ['150%', '"150%"'],
    [true, 'true'],
    [null, 'null'],
  ])('concurrency %j: the range, and the value', async (concurrency, shown) => {
    const body = await create({ concurrency });
    expect(body.errors).toEqual([
      { field: 'concurrency', pointer: '/concurrency', in: 'body', message: `${CONCURRENCY}; got ${shown}` },
    ]);
    expect(body.detail).toBe(`rollout is invalid: concurrency: ${CONCURRENCY}; got ${shown}`);
  });

  it('says it for a PATCH, for a wave size and for a retry too', async () => {
    const created = await api.request('POST', '/v1/rollouts', { userId: USER_ID, instanceIds: ['i-msg2'] });
    expect(created.status).toBe(202);
    const patched = await api.request('PATCH', `/v1/rollouts/${created.body.id}`, { concurrency: 0 });
    expect(patched.status).toBe(400);
    expect(patched.body.errors).toEqual([
      expect.objectContaining({ field: 'concurrency', message: `${CONCURRENCY}; got 0` }),
    ]);
    const waves = await create({ waves: { sizes: [5, 0] } });
    expect(waves.errors).toEqual([
      expect.objectContaining({
        field: 'waves.sizes[1]',
        pointer: '/waves/sizes/1',
        message: 'must be an integer from 1 to 100000, or a percentage such as "10%"; got 0',
      }),
    ]);
    await api.db.prisma.rollout.update({ where: { id: created.body.id }, data: { status: 'completed' } });
    const retry = await api.request('POST', `/v1/rollouts/${created.body.id}/retry`, { concurrency: 0 });
    expect(retry.status).toBe(400);
    expect(retry.body.errors).toEqual([
      expect.objectContaining({ field: 'concurrency', message: 'must be an integer from 1 to 10000; got 0' }),
    ]);
  });

  it('keeps the percentage refusal of "0%" as it was', async () => {
    const body = await create({ concurrency: '0%' });
    expect(body.errors).toEqual([expect.objectContaining({ message: 'a percentage must be above 0%; got "0%"' })]);
  });
});

describe('a refused instance id is shown, cut short and escaped', () => {
  it('names the index and shows the value', async () => {
    const body = await create({ instanceIds: ['i-abc', 'i-ABC'] });
    expect(body.errors).toEqual([
      { field: 'instanceIds[1]', pointer: '/instanceIds/1', in: 'body', message: `${INSTANCE_ID}; got "i-ABC"` },
    ]);
    expect(body.detail).toBe(`rollout is invalid: instanceIds[1]: ${INSTANCE_ID}; got "i-ABC"`);
  });

  it('cuts a long value after 40 characters and says how long it was', async () => {
    const long = `i-${'X'.repeat(298)}`;
    const body = await create({ instanceIds: [long] });
    expect(body.errors[0].message).toBe(`${INSTANCE_ID}; got "i-${'X'.repeat(38)}"... (300 characters)`);
  });

  it('escapes quotes, control characters, line separators and bidi overrides, and cuts by code point', async () => {
    const hostile = 'i-"\n\u2028\u202e<b>\u0000';
    const body = await create({ instanceIds: [hostile, `i-${'x'.repeat(37)}😀😀`] });
    expect(body.errors[0].message).toBe(`${INSTANCE_ID}; got "i-\\"\\n\\u2028\\u202e<b>\\u0000"`);
    // 40 code points: the emoji is kept whole (as its escaped surrogate pair), not split in half.
    expect(body.errors[1].message).toBe(`${INSTANCE_ID}; got "i-${'x'.repeat(37)}\\ud83d\\ude00"... (41 characters)`);
    for (const e of body.errors) expect(e.message).toMatch(/^[\x20-\x7e]*$/);
  });

  it('names a retried instance id that is not a failure of the rollout by index and value', async () => {
    const created = await api.request('POST', '/v1/rollouts', { userId: USER_ID, instanceIds: ['i-msg3'] });
    await api.db.prisma.rolloutInstance.updateMany({
      where: { rolloutId: created.body.id },
      data: { state: 'failed' },
    });
    await api.db.prisma.rollout.update({ where: { id: created.body.id }, data: { status: 'completed' } });
    const res = await api.request('POST', `/v1/rollouts/${created.body.id}/retry`, {
      instanceIds: ['i-msg3', 'i-other'],
    });
    expect(res.status).toBe(400);
    expect(res.body.errors).toEqual([
      {
        field: 'instanceIds[1]',
        pointer: '/instanceIds/1',
        in: 'body',
        message: 'not a failed instance of this rollout awaiting a retry; got "i-other"',
      },
    ]);
  });
});

describe('a refused path parameter is labelled as the path parameter', () => {
  it('GET /v1/rollouts/:id with a malformed id names `id` in the path, not the body', async () => {
    const res = await api.request('GET', '/v1/rollouts/not-a-uuid');
    expect(res.status).toBe(400);
    expect(res.body.errors).toEqual([
      { field: 'id', pointer: '/id', in: 'path', message: 'must be a rollout id (UUID); got "not-a-uuid"' },
    ]);
    expect(res.body.detail).toBe(
      'rollout id is invalid: path parameter id: must be a rollout id (UUID); got "not-a-uuid"',
    );
  });

  it('does so for every route under a rollout, and for an instance id in the path', async () => {
    for (const [method, path] of [
      ['POST', '/v1/rollouts/nope/cancel'],
      ['GET', '/v1/rollouts/nope/instances'],
      ['GET', '/v1/rollouts/nope/report'],
      ['PATCH', '/v1/rollouts/nope'],
      ['GET', '/v1/manual-install-flags/nope'],
      ['POST', '/v1/manual-install-flags/nope/acknowledge'],
    ] as const) {
      const res = await api.request(method, path, method === 'GET' ? undefined : { concurrency: 2 });
      expect(res.status, `${method} ${path}`).toBe(400);
      expect(res.body.errors, `${method} ${path}`).toEqual([expect.objectContaining({ field: 'id', in: 'path' })]);
    }
    const created = await api.request('POST', '/v1/rollouts', { userId: USER_ID, instanceIds: ['i-msg4'] });
    const res = await api.request('GET', `/v1/rollouts/${created.body.id}/instances/I-UPPER`);
    expect(res.status).toBe(400);
    expect(res.body.errors).toEqual([
      { field: 'instanceId', pointer: '/instanceId', in: 'path', message: `${INSTANCE_ID}; got "I-UPPER"` },
    ]);
  });

  it('labels query parameters and headers as such', async () => {
    const query = await api.request('GET', '/v1/rollouts?limit=0');
    expect(query.status).toBe(400);
    expect(query.body.errors).toEqual([expect.objectContaining({ field: 'limit', pointer: '/limit', in: 'query' })]);
    const header = await api.request(
      'POST',
      '/v1/rollouts',
      { userId: USER_ID, instanceIds: ['i-msg5'] },
      {
        'idempotency-key': 'k'.repeat(300),
      },
    );
    expect(header.status).toBe(400);
    expect(header.body.errors).toEqual([
      expect.objectContaining({ field: 'Idempotency-Key', pointer: '/Idempotency-Key', in: 'header' }),
    ]);
  });
});

describe('a 413 says the limit', () => {
  it('says the size of a body with Content-Length and the limit in bytes (BODY_LIMIT_BYTES)', async () => {
    const body = JSON.stringify({ userId: USER_ID, instanceIds: Array.from({ length: 400 }, (_, i) => `i-big${i}`) });
    const res = await api.request('POST', '/v1/rollouts', body, { 'content-type': 'application/json' });
    expect(res.status).toBe(413);
    expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(res.body).toMatchObject({
      code: 'body_too_large',
      detail: `The request body is ${Buffer.byteLength(body)} bytes; the limit is ${BODY_LIMIT} bytes (BODY_LIMIT_BYTES)`,
    });
  });

  it('says "at least" for a chunked body, whose size is only known up to where it was cut', async () => {
    const chunk = new TextEncoder().encode(`{"userId":"${USER_ID}","instanceIds":[${'"i-chunk",'.repeat(300)}`);
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(chunk);
        controller.enqueue(chunk);
        controller.close();
      },
    });
    const res = await fetch(`${api.url}/v1/rollouts`, {
      method: 'POST',
      headers: { authorization: `Bearer ${api.adminKey}`, 'content-type': 'application/json' },
      body: stream,
      duplex: 'half',
    } as RequestInit);
    expect(res.status).toBe(413);
    const problem = (await res.json()) as { detail: string };
    expect(problem.detail).toMatch(
      new RegExp(`^The request body is at least \\d+ bytes; the limit is ${BODY_LIMIT} bytes \\(BODY_LIMIT_BYTES\\)$`),
    );
    expect(Number(/at least (\d+)/.exec(problem.detail)![1])).toBeGreaterThan(BODY_LIMIT);
  });
});
