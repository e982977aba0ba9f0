/**
 * A generated suite of hostile and malformed requests against the running API over real HTTP: wrong types, huge
 * arrays, deep nesting, unicode tricks, SQL and script payloads, wrong content types, missing and bogus keys,
 * mass assignment, broken percent-encoding, oversized headers and bodies. Each one must be answered 4xx with a
 * problem+json body; none may be a 5xx, none may write a row, and the server must still be healthy afterwards.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { Agent, request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { instanceIds, waitFor } from '@fleet/testing';
import type { ApiHarness } from './support.ts';
import { startApi, USER_ID } from './support.ts';

const OTHER_TENANT = '7777777777777777';
const MAX_INSTANCES = 1000;
const BODY_LIMIT = 256 * 1024;

type Hostile = {
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

let api: ApiHarness;
let keys: { operator: string; viewer: string; admin: string; revoked: string };
let ids: { viewer: string; admin: string; revoked: string };
let rolloutId: string;
let foreignRolloutId: string;
const agent = new Agent({ keepAlive: true, maxSockets: 16 });

type Answer = { status: number; headers: Record<string, string | string[] | undefined>; text: string };

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
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }),
        );
      },
    );
    req.on('error', reject);
    if (h.body !== undefined) req.write(h.body);
    req.end();
  });
}

// ---------------------------------------------------------------------------------------------------------------
// The generator

const deep = (depth: number) => JSON.parse(`${'['.repeat(depth)}${']'.repeat(depth)}`) as unknown;

/** Values no field accepts (the few a field does accept are excluded per field below). */
const BAD_VALUES: [string, unknown][] = [
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

const validRollout = () => ({
  userId: USER_ID,
  instanceIds: ['i-fuzz1', 'i-fuzz2'],
  force: false,
  concurrency: 10,
  retry: { maxAttempts: 3, baseDelayMs: 100, maxDelayMs: 1000 },
});

/** Sets `path` (dots, `[0]`) in a copy of `body`. */
function withField(body: Record<string, unknown>, path: string, value: unknown): Record<string, unknown> {
  const copy = structuredClone(body);
  const parts = path.replace(/\[(\d+)\]/g, '.$1').split('.');
  // An array is indexed by the same string keys ('0') as an object, so one record type walks both.
  let node = copy;
  for (const part of parts.slice(0, -1)) node = node[part] as Record<string, unknown>;
  node[parts[parts.length - 1]!] = value;
  return copy;
}

/** The only bad values a field accepts, so they are not sent as "hostile". */
const ACCEPTED: Record<string, (v: unknown) => boolean> = {
  force: (v) => typeof v === 'boolean',
  retry: (v) => typeof v === 'object' && v !== null && !Array.isArray(v) && Object.keys(v).length === 0,
  allAccounts: (v) => v === false,
  name: (v) => typeof v === 'string' && /^[A-Za-z0-9][A-Za-z0-9 ._:@()-]{0,99}$/.test(v),
};

const json = (_body?: unknown) => ({ 'content-type': 'application/json' });

function generate(): Hostile[] {
  const out: Hostile[] = [];
  const post = (name: string, path: string, body: unknown, extra: Partial<Hostile> = {}) =>
    out.push({ name, method: 'POST', path, headers: json(body), body: JSON.stringify(body), expect: 400, ...extra });

  // 1. Every field of a rollout x every bad value.
  const rolloutFields = [
    'userId',
    'instanceIds',
    'instanceIds[0]',
    'instanceIds[1]',
    'force',
    'concurrency',
    'retry',
    'retry.maxAttempts',
    'retry.baseDelayMs',
    'retry.maxDelayMs',
  ];
  for (const field of rolloutFields) {
    for (const [label, value] of BAD_VALUES) {
      if (ACCEPTED[field]?.(value)) continue;
      // `__proto__` inside a value is refused by the body guard, also 400.
      post(`rollout ${field} = ${label}`, '/v1/rollouts', withField(validRollout(), field, value));
    }
  }

  // 2. Mass assignment: fields the client must not set, and look-alikes of real ones.
  for (const field of [
    'id',
    'status',
    'statusReason',
    'createdByKeyId',
    'enqueuedAt',
    'totalInstances',
    'parentRolloutId',
    'userIds',
    'allAccounts',
    'role',
    'isAdmin',
    '__proto__',
    'constructor',
    'prototype',
    '',
    ' userId',
    'userId\u0000',
    'USERID',
    'user_id',
    'userId ',
  ]) {
    out.push({
      name: `rollout with extra field ${JSON.stringify(field)}`,
      method: 'POST',
      path: '/v1/rollouts',
      headers: json(null),
      body: JSON.stringify(validRollout()).replace(/^\{/, `{${JSON.stringify(field)}:"x",`),
      expect: 400,
    });
  }

  // 3. Content types (a valid rollout body, so only the type is wrong).
  const contentTypes: [string | null, number[]][] = [
    [null, [415]],
    ['text/plain', [415]],
    ['text/html', [415]],
    ['application/x-www-form-urlencoded', [415]],
    ['multipart/form-data; boundary=xyz', [415]],
    ['application/xml', [415]],
    ['application/javascript', [415]],
    ['application/vnd.api+json', [415]],
    ['application/json-patch+json', [415]],
    ['application/octet-stream', [415]],
    ['image/png', [415]],
    ['application/json; charset=latin1', [415]],
    ['application/json; charset=utf-16', [400, 415]],
    ['application/json; charset=koi8-r', [415]],
    ['json', [415]],
  ];
  for (const [type, statuses] of contentTypes) {
    for (const [label, body] of [
      ['a valid rollout', JSON.stringify(validRollout())],
      ['a form', 'userId=1234567898765432&instanceIds=i-abc'],
    ] as const) {
      out.push({
        name: `POST rollout as ${type ?? '(no content type)'} with ${label}`,
        method: 'POST',
        path: '/v1/rollouts',
        headers: type ? { 'content-type': type } : {},
        body,
        expect: statuses,
      });
      out.push({
        name: `POST api key as ${type ?? '(no content type)'} with ${label}`,
        method: 'POST',
        path: '/v1/api-keys',
        headers: type ? { 'content-type': type } : {},
        body,
        expect: statuses,
        as: 'admin',
      });
    }
  }
  out.push({
    name: 'gzip-encoded body that is not gzip',
    method: 'POST',
    path: '/v1/rollouts',
    headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' },
    body: JSON.stringify(validRollout()),
    expect: [400, 415],
  });
  out.push({
    name: 'unknown content encoding',
    method: 'POST',
    path: '/v1/rollouts',
    headers: { 'content-type': 'application/json', 'content-encoding': 'br2' },
    body: JSON.stringify(validRollout()),
    expect: 415,
  });

  // 4. Malformed JSON.
  const malformed: (string | Buffer)[] = [
    '{',
    '}',
    '{"userId":}',
    '{"userId":"1234567898765432",}',
    "{'userId':'1234567898765432'}",
    'nul',
    'NaN',
    '"just a string"',
    '123',
    'true',
    'null',
    '[]',
    '[{"userId":"1234567898765432","instanceIds":["i-abc"]}]',
    `${JSON.stringify(validRollout())}garbage`,
    `${JSON.stringify(validRollout())}${JSON.stringify(validRollout())}`,
    '{"userId":"1234567898765432","userId":5,"instanceIds":["i-abc"]}',
    '{"instanceIds":["i-abc"],"userId":"1234567898765432"',
    '\u0000{}',
    Buffer.from([0xff, 0xfe, 0x7b, 0x00, 0x7d, 0x00]),
    Buffer.from([0x7b, 0x22, 0xc3, 0x28, 0x22, 0x3a, 0x31, 0x7d]),
    '{"userId":"\\ud800","instanceIds":["i-abc"]}',
    '{"userId":"1234567898765432","instanceIds":["i-abc"],"concurrency":1e999}',
    '',
    ' ',
  ];
  malformed.forEach((body, i) =>
    out.push({
      name: `malformed JSON #${i}`,
      method: 'POST',
      path: '/v1/rollouts',
      headers: { 'content-type': 'application/json' },
      body,
      expect: [400],
    }),
  );

  // 5. Authentication: every route x missing and bogus keys.
  const someRoutes: [string, string, string?][] = [
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
  const bogusAuth: [string, string | null][] = [
    ['no key', null],
    ['Bearer with nothing', 'Bearer'],
    ['Bearer and spaces', 'Bearer    '],
    ['a short junk key', 'Bearer x'],
    ['Basic credentials', 'Basic YWRtaW46YWRtaW4='],
    ['Token scheme', 'Token :operator'],
    ['a random key of the right shape', `Bearer flt_${randomBytes(32).toString('base64url')}`],
    ['the revoked key', 'Bearer :revoked'],
    ['the key in upper case', 'Bearer :operator-upper'],
    ['the key with a suffix', 'Bearer :operator-suffix'],
    ['the key twice', 'Bearer :operator :operator'],
    ['Bearer twice', 'Bearer Bearer :operator'],
    ['a 600-character key', `Bearer ${'k'.repeat(600)}`],
    ['SQL in the key', "Bearer ' OR 1=1--"],
    ['a latin-1 key', 'Bearer flt_é'],
    ['a JWT-looking key', 'Bearer eyJhbGciOiJub25lIn0.eyJyb2xlIjoiYWRtaW4ifQ.'],
  ];
  for (const [method, path, body] of someRoutes) {
    for (const [label, authorization] of bogusAuth) {
      out.push({
        name: `${method} ${path} with ${label}`,
        method,
        path,
        ...(body ? { headers: { 'content-type': 'application/json' }, body } : {}),
        as: authorization === null ? 'none' : { authorization },
        expect: 401,
      });
    }
  }

  // 6. Roles: a viewer writing, an operator managing keys.
  for (const [method, path, body] of someRoutes.filter(([m, p]) => m !== 'GET' || p === '/v1/api-keys')) {
    out.push({
      name: `viewer ${method} ${path}`,
      method,
      path,
      ...(body ? { headers: { 'content-type': 'application/json' }, body } : {}),
      as: 'viewer',
      expect: 403,
    });
  }
  for (const [method, path, body] of someRoutes.filter(([, p]) => p.startsWith('/v1/api-keys'))) {
    out.push({
      name: `operator ${method} ${path}`,
      method,
      path,
      ...(body ? { headers: { 'content-type': 'application/json' }, body } : {}),
      as: 'operator',
      expect: 403,
    });
  }

  // 7. Another tenant's objects.
  post('rollout for another tenant', '/v1/rollouts', { ...validRollout(), userId: OTHER_TENANT }, { expect: 404 });
  out.push({ name: 'read another tenant rollout', method: 'GET', path: '/v1/rollouts/:foreign', expect: 404 });
  out.push({
    name: 'read another tenant instances',
    method: 'GET',
    path: '/v1/rollouts/:foreign/instances',
    expect: 404,
  });
  out.push({
    name: 'read another tenant instance',
    method: 'GET',
    path: '/v1/rollouts/:foreign/instances/i-foreign1',
    expect: 404,
  });
  out.push({ name: 'list another tenant', method: 'GET', path: `/v1/rollouts?userId=${OTHER_TENANT}`, expect: 404 });
  out.push({
    name: 'key for another tenant',
    method: 'POST',
    path: '/v1/api-keys',
    headers: json(null),
    body: JSON.stringify({ name: 'x', role: 'admin', userIds: [OTHER_TENANT] }),
    as: 'admin',
    expect: 404,
  });
  out.push({
    name: 'all-accounts key from a scoped admin',
    method: 'POST',
    path: '/v1/api-keys',
    headers: json(null),
    body: JSON.stringify({ name: 'x', role: 'admin', allAccounts: true }),
    as: 'admin',
    expect: 403,
  });
  out.push({
    name: 'write on another tenant rollout',
    method: 'POST',
    path: '/v1/rollouts/:foreign/cancel',
    headers: json(null),
    body: '{}',
    expect: 404,
  });

  // 8. Queries.
  const badQueries = [
    'limit=-1',
    'limit=0',
    'limit=abc',
    'limit=99999999999999999999',
    'limit=1.5',
    'limit=',
    'limit=%00',
    'limit[]=1',
    'limit=1&limit=2',
    'limit=%EF%BC%91',
    'cursor=abc',
    'cursor=%27%20OR%201%3D1--',
    `cursor=${'A'.repeat(500)}`,
    'cursor=..%2F..%2F',
    `cursor=${Buffer.from('1.not-a-uuid').toString('base64url')}`,
    'unknown=1',
    '__proto__[x]=1',
    'constructor=x',
    'state=bogus',
    'status=PENDING',
    'userId=1',
    'userId=%EF%BC%91%EF%BC%92%EF%BC%93%EF%BC%94%EF%BC%95%EF%BC%96%EF%BC%97%EF%BC%98%EF%BC%99%EF%BC%90%EF%BC%91%EF%BC%92%EF%BC%93%EF%BC%94%EF%BC%95%EF%BC%96',
    'userId=1234567898765432%00',
  ];
  for (const q of badQueries) {
    out.push({ name: `list rollouts ?${q}`, method: 'GET', path: `/v1/rollouts?${q}`, expect: 400 });
    out.push({ name: `list instances ?${q}`, method: 'GET', path: `/v1/rollouts/:real/instances?${q}`, expect: 400 });
    out.push({ name: `list api keys ?${q}`, method: 'GET', path: `/v1/api-keys?${q}`, as: 'admin', expect: 400 });
    out.push({ name: `report ?${q}`, method: 'GET', path: `/v1/rollouts/:real/report?${q}`, expect: 400 });
    out.push({
      name: `list manual-install flags ?${q}`,
      method: 'GET',
      path: `/v1/manual-install-flags?${q}`,
      expect: 400,
    });
  }

  // 9. Paths and methods.
  const badIds = [
    'not-a-uuid',
    '0',
    '-1',
    "'%20OR%201=1--",
    '%00',
    '..%2F..%2F..%2Fetc%2Fpasswd',
    '%2e%2e',
    'a'.repeat(5000),
    `${randomUUID()}%20`,
    `${randomUUID()}'`,
    '%3Cscript%3Ealert(1)%3C%2Fscript%3E',
    '%E2%80%AE00000000-0000-4000-8000-000000000000',
    '%E0%A4%A',
    '%',
    randomUUID(),
  ];
  for (const id of badIds) {
    out.push({ name: `GET rollout ${id.slice(0, 40)}`, method: 'GET', path: `/v1/rollouts/${id}` });
    out.push({ name: `GET instances of ${id.slice(0, 40)}`, method: 'GET', path: `/v1/rollouts/${id}/instances` });
    out.push({ name: `DELETE api key ${id.slice(0, 40)}`, method: 'DELETE', path: `/v1/api-keys/${id}`, as: 'admin' });
  }
  for (const instanceId of [
    'I-UPPER',
    'i-',
    'i-abc%00',
    `i-${'a'.repeat(100)}`,
    "i-abc'--",
    '%3Cscript%3E',
    'i-%C4%B1',
    '..%2F..',
  ]) {
    out.push({
      name: `GET instance ${instanceId}`,
      method: 'GET',
      path: `/v1/rollouts/:real/instances/${instanceId}`,
      expect: 400,
    });
  }
  for (const method of ['PUT', 'PATCH', 'DELETE', 'POST']) {
    out.push({
      name: `${method} on an unknown rollout`,
      method,
      path: `/v1/rollouts/${randomUUID()}`,
      headers: json(null),
      body: '{}',
      expect: 404,
    });
  }
  for (const method of ['PUT', 'PATCH', 'DELETE'])
    out.push({
      name: `${method} on the collection`,
      method,
      path: '/v1/rollouts',
      headers: json(null),
      body: '{}',
      expect: 404,
    });
  out.push({
    name: 'PUT api keys',
    method: 'PUT',
    path: '/v1/api-keys',
    headers: json(null),
    body: '{}',
    as: 'admin',
    expect: 404,
  });

  // 10. API keys: every field x every bad value.
  const validKey = () => ({ name: 'fuzz key', role: 'viewer', userIds: [USER_ID] });
  for (const field of ['name', 'role', 'userIds', 'userIds[0]', 'allAccounts']) {
    for (const [label, value] of BAD_VALUES) {
      if (ACCEPTED[field]?.(value)) continue;
      post(`api key ${field} = ${label}`, '/v1/api-keys', withField(validKey(), field, value), { as: 'admin' });
    }
  }
  for (const role of ['root', 'ADMIN', 'Admin', 'superuser', 'admin ', 'viewer\u0000'])
    post(`api key role ${JSON.stringify(role)}`, '/v1/api-keys', { ...validKey(), role }, { as: 'admin' });

  // 10b. Bodies of the other write routes, on objects where even a valid body changes nothing (a running rollout
  // cannot be retried; flag 999999999 does not exist): whatever the route checks first, the answer is 4xx.
  for (const field of ['cause', 'instanceIds', 'force', 'concurrency']) {
    for (const [label, value] of BAD_VALUES)
      post(`retry ${field} = ${label}`, '/v1/rollouts/:real/retry', { [field]: value }, { expect: undefined });
  }
  for (const [label, value] of BAD_VALUES)
    post(
      `flag note = ${label}`,
      '/v1/manual-install-flags/999999999/acknowledge',
      { note: value },
      { expect: undefined },
    );

  // 11. Idempotency-Key on an otherwise valid rollout.
  for (const [label, value] of [
    ['empty', ''],
    ['a space inside', 'a b'],
    ['256 characters', 'k'.repeat(256)],
    ['a latin-1 character', 'cl\u00e9'],
    ['a tab', 'a\tb'],
    ['only spaces', '   x   y'],
  ] as const) {
    out.push({
      name: `Idempotency-Key ${label}`,
      method: 'POST',
      path: '/v1/rollouts',
      headers: { 'content-type': 'application/json', 'idempotency-key': value },
      body: JSON.stringify(validRollout()),
      expect: 400,
    });
  }

  // 12. Size.
  out.push({
    name: 'more instances than the maximum',
    method: 'POST',
    path: '/v1/rollouts',
    headers: json(null),
    body: JSON.stringify({ userId: USER_ID, instanceIds: instanceIds(MAX_INSTANCES + 1, 'i-bp') }),
    expect: 400,
  });
  out.push({
    name: 'the maximum plus one, all the same id',
    method: 'POST',
    path: '/v1/rollouts',
    headers: json(null),
    body: JSON.stringify({ userId: USER_ID, instanceIds: Array(MAX_INSTANCES + 1).fill('i-same') }),
    expect: 400,
  });
  out.push({
    name: 'a body over the size limit',
    method: 'POST',
    path: '/v1/rollouts',
    headers: json(null),
    body: JSON.stringify({ userId: USER_ID, instanceIds: instanceIds(30_000, 'i-bp') }),
    expect: 413,
  });
  out.push({
    name: 'a 1 MB userId',
    method: 'POST',
    path: '/v1/rollouts',
    headers: json(null),
    body: JSON.stringify({ userId: '1'.repeat(1_000_000), instanceIds: ['i-abc'] }),
    expect: 413,
  });
  out.push({
    name: '100,000 levels of nesting',
    method: 'POST',
    path: '/v1/rollouts',
    headers: json(null),
    body: `{"userId":"${USER_ID}","instanceIds":${'['.repeat(100_000)}${']'.repeat(100_000)}}`,
    expect: 400,
  });
  out.push({
    name: '10,000 unknown fields',
    method: 'POST',
    path: '/v1/rollouts',
    headers: json(null),
    body: JSON.stringify({
      ...validRollout(),
      ...Object.fromEntries(Array.from({ length: 10_000 }, (_, i) => [`f${i}`, i])),
    }),
    expect: 400,
  });
  out.push({
    name: 'headers over 16 KB',
    method: 'GET',
    path: '/v1/rollouts',
    headers: { 'x-padding': 'p'.repeat(20_000) },
    expect: 431,
  });
  out.push({
    name: 'a Content-Length larger than the limit',
    method: 'POST',
    path: '/v1/rollouts',
    headers: { 'content-type': 'application/json', 'x-declared': 'huge' },
    body: 'x'.repeat(BODY_LIMIT + 1),
    expect: 413,
  });

  return out;
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

describe('hostile and malformed requests against the running API', () => {
  it('answers every one 4xx with problem+json, never 5xx, writes nothing, and stays healthy', async () => {
    const requests = generate().map(resolve);
    expect(requests.length).toBeGreaterThanOrEqual(500);
    const before = await snapshot();
    const results = await runAll(requests, 16);
    expect(results).toHaveLength(requests.length);

    const failures: string[] = [];
    for (const { request, answer } of results) {
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
