/**
 * Hostile URLs (see hostile-support.ts for what every answer must be): bad query parameters on every list, bad ids
 * and instance ids in paths, and methods a route does not have.
 */
import { randomUUID } from 'node:crypto';
import { describeHostileRequests, json } from './hostile-support.ts';

describeHostileRequests('hostile queries, paths and methods', 176, (out) => {
  // Queries.
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

  // Paths and methods.
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
});
