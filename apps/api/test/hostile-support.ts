/**
 * The harness of the hostile-request suites (hostile-*.test.ts): a generated list of hostile and malformed requests
 * sent to the running API over real HTTP. Each one must be answered 4xx with a problem+json body; none may be a 5xx,
 * none may write a row, and the server must still be healthy afterwards. The values no field accepts, the routes the
 * suites attack and describeHostileRequests, which runs one suite's list against an API of its own, are here; each
 * suite file generates the requests of its concern.
 */
import { randomUUID } from 'node:crypto';
import { Agent, request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '@fleet/testing';
import type { ApiHarness } from './support.ts';
import { startApi, USER_ID } from './support.ts';

export const OTHER_TENANT = '7777777777777777';
export const MAX_INSTANCES = 1000;
export const BODY_LIMIT = 256 * 1024;

export type Hostile = {
  name: string;
  method: string;
  path: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  /** The status it must get, when one is clearly right; otherwise any 4xx. */
  expect?: number | number[];
  /** Which key to send: a role of the test tenant, a bogus one, or none. Default operator. */
  as?: 'operator' | 'viewer' | 'admin' | 'none' | { authorization: string };
};

type Answer = { status: number; headers: Record<string, string | string[] | undefined>; text: string };

const deep = (depth: number) => JSON.parse(`${'['.repeat(depth)}${']'.repeat(depth)}`) as unknown;

/** Values no field accepts (the few a field does accept are excluded per field below). */
export const BAD_VALUES: [string, unknown][] = [
  ['null', null],
  ['true', true],
  ['false', false],
  ['zero', 0],
  ['minus one', -1],
  ['a fraction', 1.5],
  ['a huge number', 1e308],
  ['an empty string', ''],
  ['a blank string', '   '],
  ['a 10,000-character string', 'a'.repeat(10_000)],
  ['SQL tautology', "' OR '1'='1"],
  ['SQL stacked query', "1234567898765432'; DROP TABLE rollout;--"],
  ['SQL comment in an id', "i-abc'--"],
  ['a script tag', '<script>alert(1)</script>'],
  ['an img onerror', '"><img src=x onerror=alert(1)>'],
  ['template injection', '${7*7}{{7*7}}'],
  ['path traversal', '../../../../etc/passwd'],
  ['full-width digits', '１２３４５６７８９８７６５４３２'],
  ['Arabic-Indic digits', '١٢٣٤٥٦٧٨٩٨٧٦٥٤٣٢'],
  ['a trailing NUL', '1234567898765432\u0000'],
  ['a right-to-left override', '\u202E1234567898765432'],
  ['a zero-width space', '12345678987654\u200B32'],
  ['a trailing newline', '1234567898765432\n'],
  ['Cyrillic i in an id', 'і-abc'],
  ['full-width id', 'ｉ-ａｂｃ'],
  ['upper-case id', 'I-ABC'],
  ['an emoji', '💥'],
  ['a lone surrogate', '\uD800'],
  ['an empty array', []],
  ['an array of null', [null]],
  ['an empty object', {}],
  ['a Mongo operator', { $gt: '' }],
  ['a prototype object', JSON.parse('{"__proto__":{"isAdmin":true}}')],
  ['40 levels of arrays', deep(40)],
  ['2,000 numbers', Array.from({ length: 2000 }, (_, i) => i)],
  ['the string NaN', 'NaN'],
  ['a hex string', '0x10'],
];

export const validRollout = () => ({
  userId: USER_ID,
  instanceIds: ['i-fuzz1', 'i-fuzz2'],
  force: false,
  concurrency: 10,
  retry: { maxAttempts: 3, baseDelayMs: 100, maxDelayMs: 1000 },
});

/** Sets `path` (dots, `[0]`) in a copy of `body`. */
export function withField(body: Record<string, unknown>, path: string, value: unknown): Record<string, unknown> {
  const copy = structuredClone(body);
  const parts = path.replace(/\[(\d+)\]/g, '.$1').split('.');
  // An array is indexed by the same string keys ('0') as an object, so one record type walks both.
  let node = copy;
  for (const part of parts.slice(0, -1)) node = node[part] as Record<string, unknown>;
  node[parts[parts.length - 1]!] = value;
  return copy;
}

/** The only bad values a field accepts, so they are not sent as "hostile". */
export const ACCEPTED: Record<string, (v: unknown) => boolean> = {
  force: (v) => typeof v === 'boolean',
  retry: (v) => typeof v === 'object' && v !== null && !Array.isArray(v) && Object.keys(v).length === 0,
  allAccounts: (v) => v === false,
  name: (v) => typeof v === 'string' && /^[A-Za-z0-9][A-Za-z0-9 ._:@()-]{0,99}$/.test(v),
};

export const json = (_body?: unknown) => ({ 'content-type': 'application/json' });

/** Adds a POST of `body` as JSON to `path`, expected to be answered 400 unless `extra` says otherwise. */
export type PostHostile = (name: string, path: string, body: unknown, extra?: Partial<Hostile>) => void;

/**
 * Routes of every kind (reads, writes, key management, an unknown one), for the authentication and role suites.
 * `:real` and `:viewer` stand for the fixture's rollout and viewer key (see describeHostileRequests).
 */
export const SOME_ROUTES: [string, string, string?][] = [
  ['POST', '/v1/rollouts', JSON.stringify(validRollout())],
  ['GET', '/v1/rollouts'],
  ['GET', `/v1/rollouts/${randomUUID()}`],
  ['GET', '/v1/rollouts/:real'],
  ['GET', '/v1/rollouts/:real/instances'],
  ['GET', '/v1/rollouts/:real/instances/i-fuzz1'],
  ['POST', '/v1/api-keys', JSON.stringify({ name: 'x', role: 'admin', allAccounts: true })],
  ['GET', '/v1/api-keys'],
  ['DELETE', '/v1/api-keys/:viewer'],
  ['GET', '/v1/not-a-route'],
  ['GET', '/v1/rollouts/:real/report'],
  ['POST', '/v1/rollouts/:real/retry', '{}'],
  ['GET', '/v1/manual-install-flags'],
  ['POST', '/v1/manual-install-flags/1/acknowledge', '{}'],
];

/** What is wrong with `answer` to the hostile `request` (see the file's header); empty when nothing is. */
function problemsOf(request: Hostile, answer: Answer): string[] {
  const problems: string[] = [];
  if (answer.status >= 500) problems.push('5xx');
  if (answer.status < 400 || answer.status >= 500) problems.push(`status ${answer.status}`);
  const expected = request.expect === undefined ? undefined : [request.expect].flat();
  if (expected && !expected.includes(answer.status)) problems.push(`expected ${expected.join('|')}`);
  if (!/^application\/problem\+json/.test(String(answer.headers['content-type'])))
    problems.push(`content-type ${answer.headers['content-type']}`);
  let body: Record<string, unknown> | undefined;
  try {
    body = JSON.parse(answer.text);
  } catch {
    problems.push('body is not JSON');
  }
  if (body) {
    if (body.status !== answer.status) problems.push('problem status differs');
    if (
      typeof body.code !== 'string' ||
      typeof body.title !== 'string' ||
      !String(body.type).startsWith('urn:fleet-rollout:problem:')
    )
      problems.push('not a problem document');
    if (answer.status === 400 && body.code === 'validation_failed' && !Array.isArray(body.errors))
      problems.push('no field list');
  }
  if (/\n\s+at |node_modules|\.ts:\d+|Prisma|SELECT |INSERT /.test(answer.text))
    problems.push('internal detail in the answer');
  if (!answer.headers['x-request-id']) problems.push('no X-Request-Id');
  if (answer.headers['x-content-type-options'] !== 'nosniff') problems.push('no nosniff');
  if (answer.status === 401 && !String(answer.headers['www-authenticate']).startsWith('Bearer'))
    problems.push('401 without WWW-Authenticate');
  return problems;
}

/**
 * Registers a suite: before it, an API of its own (MAX_INSTANCES, BODY_LIMIT) with the fixture (an operator, viewer
 * and scoped admin key of USER_ID, a revoked admin key, a rollout of USER_ID and one of OTHER_TENANT); then the
 * requests `generate` adds (at least `minimum`, so that a generator that lost its cases fails), sent 16 at a time,
 * each answered as the file's header says, and a valid request served afterwards. In paths and authorization values
 * `:real`, `:foreign`, `:viewer`, `:revoked`, `:operator`, `:operator-upper` and `:operator-suffix` stand for the
 * fixture's ids and keys.
 */
export function describeHostileRequests(
  title: string,
  minimum: number,
  generate: (out: Hostile[], post: PostHostile) => void,
): void {
  let api: ApiHarness;
  let keys: { operator: string; viewer: string; admin: string; revoked: string };
  let ids: { viewer: string; admin: string; revoked: string };
  let rolloutId: string;
  let foreignRolloutId: string;
  const agent = new Agent({ keepAlive: true, maxSockets: 16 });

  function send(h: Hostile): Promise<Answer> {
    const target = new URL(api.url);
    const headers: Record<string, string> = { ...(h.headers ?? {}) };
    const as = h.as ?? 'operator';
    if (typeof as === 'object') headers.authorization = as.authorization;
    else if (as !== 'none') headers.authorization = `Bearer ${keys[as]}`;
    if (h.body !== undefined) headers['content-length'] = String(Buffer.byteLength(h.body));
    return new Promise((resolve, reject) => {
      const req = httpRequest(
        { host: target.hostname, port: target.port, method: h.method, path: h.path, headers, agent },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () =>
            resolve({
              status: res.statusCode ?? 0,
              headers: res.headers,
              text: Buffer.concat(chunks).toString('utf8'),
            }),
          );
        },
      );
      req.on('error', reject);
      if (h.body !== undefined) req.write(h.body);
      req.end();
    });
  }

  /** Fills in ids known only once the fixture exists. */
  function resolve(h: Hostile): Hostile {
    const swap = (s: string) =>
      s
        .replaceAll(':real', rolloutId)
        .replaceAll(':foreign', foreignRolloutId)
        .replaceAll(':viewer', ids.viewer)
        .replaceAll(':revoked', keys.revoked)
        .replaceAll(':operator-upper', keys.operator.toUpperCase())
        .replaceAll(':operator-suffix', `${keys.operator}x`)
        .replaceAll(':operator', keys.operator);
    return {
      ...h,
      path: swap(h.path),
      ...(typeof h.as === 'object' ? { as: { authorization: swap(h.as.authorization) } } : {}),
    };
  }

  async function runAll(requests: Hostile[], parallel: number): Promise<{ request: Hostile; answer: Answer }[]> {
    const results: { request: Hostile; answer: Answer }[] = [];
    let next = 0;
    await Promise.all(
      Array.from({ length: parallel }, async () => {
        while (next < requests.length) {
          const request = requests[next++]!;
          results.push({ request, answer: await send(request) });
        }
      }),
    );
    return results;
  }

  async function snapshot() {
    const [rollouts, instances, apiKeys, idempotency, attempts, keyRows, queueKeys] = await Promise.all([
      api.db.prisma.rollout.count(),
      api.db.prisma.rolloutInstance.count(),
      api.db.prisma.apiKey.count(),
      api.db.prisma.idempotencyRecord.count(),
      api.db.prisma.installAttempt.count(),
      api.db.prisma.apiKey.findMany({
        select: { id: true, revokedAt: true, lastUsedAt: true, role: true, userIds: true },
        orderBy: { id: 'asc' },
      }),
      api.redis.keys(`${api.prefix}:install.*`),
    ]);
    return { rollouts, instances, apiKeys, idempotency, attempts, keyRows, queueKeys: queueKeys.length };
  }

  beforeAll(async () => {
    api = await startApi({ maxInstancesPerRollout: MAX_INSTANCES, bodyLimitBytes: BODY_LIMIT });
    const operator = await api.createKey('operator', [USER_ID], 'fuzz operator');
    const viewer = await api.createKey('viewer', [USER_ID], 'fuzz viewer');
    const admin = await api.createKey('admin', [USER_ID], 'fuzz scoped admin');
    const revoked = await api.createKey('admin', 'all', 'fuzz revoked');
    await api.db.prisma.apiKey.update({ where: { id: revoked.id }, data: { revokedAt: new Date() } });
    keys = { operator: operator.key, viewer: viewer.key, admin: admin.key, revoked: revoked.key };
    ids = { viewer: viewer.id, admin: admin.id, revoked: revoked.id };
    const mine = await api.requestAs(operator.key, 'POST', '/v1/rollouts', {
      userId: USER_ID,
      instanceIds: ['i-fuzz1', 'i-fuzz2'],
    });
    expect(mine.status).toBe(202);
    rolloutId = mine.body.id;
    const foreign = await api.request('POST', '/v1/rollouts', { userId: OTHER_TENANT, instanceIds: ['i-foreign1'] });
    expect(foreign.status).toBe(202);
    foreignRolloutId = foreign.body.id;
    // Successful requests record the key's last use after answering; let those writes land before the snapshot.
    await waitFor('last use of the setup keys', async () => {
      const rows = await api.db.prisma.apiKey.findMany({ where: { id: { in: [operator.id] } } });
      return rows.every((r) => r.lastUsedAt !== null);
    });
    await new Promise((r) => setTimeout(r, 100));
  });
  afterAll(async () => {
    agent.destroy();
    await api.close();
  });

  describe(title, () => {
    it('answers every one 4xx with problem+json, never 5xx, writes nothing, and stays healthy', async () => {
      const out: Hostile[] = [];
      generate(out, (name, path, body, extra = {}) =>
        out.push({
          name,
          method: 'POST',
          path,
          headers: json(body),
          body: JSON.stringify(body),
          expect: 400,
          ...extra,
        }),
      );
      const requests = out.map(resolve);
      expect(requests.length).toBeGreaterThanOrEqual(minimum);
      const before = await snapshot();
      const results = await runAll(requests, 16);
      expect(results).toHaveLength(requests.length);

      const failures: string[] = [];
      for (const { request, answer } of results) {
        const problems = problemsOf(request, answer);
        if (problems.length > 0)
          failures.push(
            `${request.name} (${request.method} ${request.path.slice(0, 80)}): ${problems.join(', ')} -> ${answer.status} ${answer.text.slice(0, 200)}`,
          );
      }
      expect(failures, `${failures.length} of ${results.length} answers were wrong`).toEqual([]);

      expect(await snapshot()).toEqual(before);
      expect((await api.requestAs(null, 'GET', '/healthz')).status).toBe(200);
      expect((await api.requestAs(null, 'GET', '/readyz')).status).toBe(200);
      const logs = api.logLines.join('\n');
      for (const key of Object.values(keys)) expect(logs).not.toContain(key);
      expect(logs).not.toContain('unhandled error');
    });

    it('still serves a valid request afterwards (the suite above is not refusing everything)', async () => {
      const res = await send({
        name: 'control',
        method: 'POST',
        path: '/v1/rollouts',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(validRollout()),
      });
      expect(res.status).toBe(202);
      const key = await send({
        name: 'control',
        method: 'POST',
        path: '/v1/api-keys',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'fuzz key', role: 'viewer', userIds: [USER_ID] }),
        as: 'admin',
      });
      expect(key.status).toBe(201);
    });
  });
}
