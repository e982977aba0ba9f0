/**
 * Hostile encodings and sizes (see hostile-support.ts for what every answer must be): wrong content types and
 * encodings, malformed JSON, and bodies, arrays, nesting and headers over the limits.
 */
import { instanceIds } from '@fleet/testing';
import { USER_ID } from './support.ts';
import { BODY_LIMIT, describeHostileRequests, json, MAX_INSTANCES, validRollout } from './hostile-support.ts';

describeHostileRequests('hostile content types, malformed JSON and oversized requests', 94, (out) => {
  // Content types (a valid rollout body, so only the type is wrong).
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

  // Malformed JSON.
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

  // Size.
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
});
