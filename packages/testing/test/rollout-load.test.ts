import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort, pollRolloutReads, postRollouts } from '../src/index.ts';
import type { LoadSample, RolloutReadSample } from '../src/index.ts';

type Seen = { method: string; url: string; ifNoneMatch: string | undefined; body: string };

/** A stand-in API on 127.0.0.1: `answer` decides each request's status and body; every request is kept. */
async function startApi(answer: (seen: Seen, res: ServerResponse) => void) {
  const seen: Seen[] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const request = {
        method: req.method!,
        url: req.url!,
        ifNoneMatch: req.headers['if-none-match'],
        body: Buffer.concat(chunks).toString('utf8'),
      };
      seen.push(request);
      answer(request, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  closers.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((close) => close()));
});

/** Options that stop a client after `requests` samples. */
function stopAfter(requests: number, samples: unknown[]) {
  return { intervalMs: 1, originMs: performance.now(), running: () => samples.length < requests };
}

describe('pollRolloutReads', () => {
  it('reads status, list page and report in turn from firstTurn, walks the cursor and sends each URL its ETag back', async () => {
    const api = await startApi((seen, res) => {
      if (seen.url.includes('/instances')) {
        const next = seen.url.includes('cursor=c1') ? 'c2' : 'c1';
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ items: [], nextCursor: next }));
      } else if (seen.ifNoneMatch === `"${seen.url}"`) res.writeHead(304).end();
      else res.writeHead(200, { etag: `"${seen.url}"` }).end('{}');
    });
    const samples: RolloutReadSample[] = [];
    await pollRolloutReads(
      { apiUrl: api.url, apiKey: 'k', rolloutId: 'r1', listLimit: 7, firstTurn: 1, ...stopAfter(6, samples) },
      (sample) => samples.push(sample),
    );
    expect(samples.map((s) => s.kind)).toEqual(['list', 'report', 'status', 'list', 'report', 'status']);
    expect(samples.map((s) => s.status)).toEqual([200, 200, 200, 200, 304, 304]);
    expect(api.seen.map((s) => s.url)).toEqual([
      '/v1/rollouts/r1/instances?limit=7',
      '/v1/rollouts/r1/report',
      '/v1/rollouts/r1',
      '/v1/rollouts/r1/instances?limit=7&cursor=c1',
      '/v1/rollouts/r1/report',
      '/v1/rollouts/r1',
    ]);
  });

  it('a request without an answer is status 0, and an answer whose body does not parse keeps its status', async () => {
    // A list page is parsed for its cursor: one that is not JSON still counts as answered, with its status.
    const api = await startApi((_seen, res) => res.writeHead(200, { 'content-type': 'text/plain' }).end('not json'));
    const answered: RolloutReadSample[] = [];
    await pollRolloutReads(
      { apiUrl: api.url, apiKey: 'k', rolloutId: 'r1', listLimit: 10, firstTurn: 1, ...stopAfter(1, answered) },
      (sample) => answered.push(sample),
    );
    expect(answered.map((s) => [s.kind, s.status])).toEqual([['list', 200]]);
    const nobody: RolloutReadSample[] = [];
    await pollRolloutReads(
      {
        apiUrl: `http://127.0.0.1:${await freePort()}`,
        apiKey: 'k',
        rolloutId: 'r1',
        listLimit: 10,
        firstTurn: 0,
        ...stopAfter(2, nobody),
      },
      (sample) => nobody.push(sample),
    );
    expect(nobody.map((s) => s.status)).toEqual([0, 0]);
  });
});

describe('postRollouts', () => {
  it("posts instanceIds(n) for n = 0, 1, ... and hands back each 202's rollout id, null for any other answer", async () => {
    const api = await startApi((seen, res) => {
      const n = (JSON.parse(seen.body) as { instanceIds: string[] }).instanceIds[0];
      if (n === 'i-1') res.writeHead(409, { 'content-type': 'application/json' }).end('{}');
      else res.writeHead(202, { 'content-type': 'application/json' }).end(JSON.stringify({ id: `r-${n}` }));
    });
    const samples: (LoadSample & { rolloutId: string | null })[] = [];
    await postRollouts(
      {
        apiUrl: api.url,
        apiKey: 'key',
        userId: 'u1',
        force: true,
        concurrency: 3,
        instanceIds: (n) => [`i-${n}`],
        ...stopAfter(3, samples),
      },
      (sample) => samples.push(sample),
    );
    expect(samples.map((s) => [s.status, s.rolloutId])).toEqual([
      [202, 'r-i-0'],
      [409, null],
      [202, 'r-i-2'],
    ]);
    expect(JSON.parse(api.seen[0]!.body)).toEqual({ userId: 'u1', instanceIds: ['i-0'], force: true, concurrency: 3 });
    expect(api.seen.every((s) => s.method === 'POST')).toBe(true);
  });
});
