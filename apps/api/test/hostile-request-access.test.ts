/**
 * Hostile credentials and scopes (see hostile-support.ts for what every answer must be): every route with missing
 * and bogus keys, roles doing what they may not, and another tenant's objects.
 */
import { randomBytes } from 'node:crypto';
import { describeHostileRequests, json, OTHER_TENANT, SOME_ROUTES, validRollout } from './hostile-support.ts';

describeHostileRequests('missing and bogus keys, wrong roles and other tenants', 241, (out, post) => {
  // Authentication: every route x missing and bogus keys.
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
  for (const [method, path, body] of SOME_ROUTES) {
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

  // Roles: a viewer writing, an operator managing keys.
  for (const [method, path, body] of SOME_ROUTES.filter(([m, p]) => m !== 'GET' || p === '/v1/api-keys')) {
    out.push({
      name: `viewer ${method} ${path}`,
      method,
      path,
      ...(body ? { headers: { 'content-type': 'application/json' }, body } : {}),
      as: 'viewer',
      expect: 403,
    });
  }
  for (const [method, path, body] of SOME_ROUTES.filter(([, p]) => p.startsWith('/v1/api-keys'))) {
    out.push({
      name: `operator ${method} ${path}`,
      method,
      path,
      ...(body ? { headers: { 'content-type': 'application/json' }, body } : {}),
      as: 'operator',
      expect: 403,
    });
  }

  // Another tenant's objects.
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
});
