/**
 * The client's retries and errors over real HTTP: a small node:http server stands for an API that is busy (503 with
 * Retry-After), rate-limits (429) or refuses (a problem document); a closed port for an API that is down.
 */
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ApiNetworkError, ApiProblemError, FleetApiClient } from '../src/index.ts';

const KEY = `flt_${'s'.repeat(43)}`;
let server: Server | undefined;

afterEach(async () => {
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  server = undefined;
});

/** Serves `answers` in turn (the last one repeats); resolves with the base URL and the requests seen. */
async function serve(answers: ((req: IncomingMessage, res: ServerResponse) => void)[]) {
  const seen: { method: string; url: string; authorization: string | undefined; idempotencyKey: string | undefined }[] =
    [];
  server = createServer((req, res) => {
    seen.push({
      method: req.method!,
      url: req.url!,
      authorization: req.headers.authorization,
      idempotencyKey: req.headers['idempotency-key'] as string | undefined,
    });
    req.resume();
    req.on('end', () => answers[Math.min(seen.length - 1, answers.length - 1)]!(req, res));
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server!.address() as AddressInfo).port}`, seen };
}

const json =
  (status: number, body: unknown, headers: Record<string, string> = {}) =>
  (_: IncomingMessage, res: ServerResponse) => {
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(JSON.stringify(body));
  };

const problem = (status: number, code: string) => ({
  type: 'about:blank',
  title: code === 'validation_failed' ? 'Invalid request' : 'Busy',
  status,
  detail: 'see errors',
  code,
  requestId: 'req-from-body',
  errors: [{ field: 'concurrency', pointer: '/concurrency', in: 'body', message: 'must be at most 10000; got 20000' }],
});

describe('FleetApiClient retries', () => {
  it('waits out a 503 with Retry-After and then answers, sending the key as a Bearer token', async () => {
    const { url, seen } = await serve([
      json(503, problem(503, 'redis_unavailable'), { 'retry-after': '1' }),
      json(200, { items: [], nextCursor: null }),
    ]);
    const client = new FleetApiClient({ baseUrl: url, apiKey: KEY, minDelayMs: 10 });
    const started = Date.now();
    expect(await client.listRollouts({ limit: 1 })).toEqual({ items: [], nextCursor: null });
    expect(seen.map((s) => s.url)).toEqual(['/v1/rollouts?limit=1', '/v1/rollouts?limit=1']);
    expect(seen[0]!.authorization).toBe(`Bearer ${KEY}`);
    // Retry-After: 1 is a floor, not a hint: the second request came a second or more after the first.
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
  });

  it('gives up on a 429 after its retries with the problem, its fields and the request id', async () => {
    const { url, seen } = await serve([
      json(429, problem(429, 'rate_limited'), { 'retry-after': '0', 'x-request-id': 'req-1' }),
    ]);
    const client = new FleetApiClient({ baseUrl: url, apiKey: KEY, retries: 2, minDelayMs: 10, maxDelayMs: 20 });
    const error = await client.getRollout('r1').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiProblemError);
    expect(error).toMatchObject({
      status: 429,
      code: 'rate_limited',
      requestId: 'req-1',
      request: 'GET /v1/rollouts/r1',
    });
    expect(seen).toHaveLength(3);
  });

  it('does not retry a refusal, and names each field at fault', async () => {
    const { url, seen } = await serve([json(400, problem(400, 'validation_failed'))]);
    const client = new FleetApiClient({ baseUrl: url, apiKey: KEY, minDelayMs: 10 });
    const error = (await client.patchRollout('r1', { concurrency: 20000 }).catch((e: unknown) => e)) as ApiProblemError;
    expect(error).toBeInstanceOf(ApiProblemError);
    expect(error.errors).toEqual([
      expect.objectContaining({ field: 'concurrency', message: 'must be at most 10000; got 20000' }),
    ]);
    expect(error.requestId).toBe('req-from-body');
    expect(seen).toHaveLength(1);
  });

  it('retries a POST with an Idempotency-Key after a dropped connection, and the key is the same each time', async () => {
    const { url, seen } = await serve([(req) => req.socket.destroy(), json(202, { id: 'r1' })]);
    const client = new FleetApiClient({ baseUrl: url, apiKey: KEY, minDelayMs: 10 });
    expect(await client.createRollout({ userId: '1', instanceIds: ['i-a'] }, { idempotencyKey: 'k-1' })).toEqual({
      id: 'r1',
    });
    expect(seen.map((s) => s.idempotencyKey)).toEqual(['k-1', 'k-1']);
  });

  it('does not repeat a POST without one after a dropped connection', async () => {
    const { url, seen } = await serve([(req) => req.socket.destroy(), json(202, { id: 'r1' })]);
    const client = new FleetApiClient({ baseUrl: url, apiKey: KEY, minDelayMs: 10 });
    await expect(client.retryRollout('r1', {})).rejects.toBeInstanceOf(ApiNetworkError);
    expect(seen).toHaveLength(1);
  });

  it('says where it could not connect, how many tries it made, and never the key', async () => {
    const { url } = await serve([json(200, {})]);
    await new Promise<void>((resolve) => server!.close(() => resolve()));
    server = undefined;
    const client = new FleetApiClient({ baseUrl: url, apiKey: KEY, retries: 2, minDelayMs: 10 });
    const error = (await client.listApiKeys().catch((e: unknown) => e)) as ApiNetworkError;
    expect(error).toBeInstanceOf(ApiNetworkError);
    expect(error.message).toContain('ECONNREFUSED');
    expect(error.attempts).toBe(3);
    expect(JSON.stringify({ ...error, message: error.message, stack: error.stack })).not.toContain(KEY);
  });
});
