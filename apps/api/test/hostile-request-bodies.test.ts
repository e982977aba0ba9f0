/**
 * Hostile request bodies (see hostile-support.ts for what every answer must be): every field of a rollout and of an
 * API key with every value no field accepts, fields the client must not set and look-alikes of real ones, bad bodies
 * of the other write routes, and malformed Idempotency-Keys.
 */
import { USER_ID } from './support.ts';
import { ACCEPTED, BAD_VALUES, describeHostileRequests, json, validRollout, withField } from './hostile-support.ts';

describeHostileRequests('hostile and malformed request bodies', 765, (out, post) => {
  // Every field of a rollout x every bad value.
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

  // Mass assignment: fields the client must not set, and look-alikes of real ones.
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

  // API keys: every field x every bad value.
  const validKey = () => ({ name: 'fuzz key', role: 'viewer', userIds: [USER_ID] });
  for (const field of ['name', 'role', 'userIds', 'userIds[0]', 'allAccounts']) {
    for (const [label, value] of BAD_VALUES) {
      if (ACCEPTED[field]?.(value)) continue;
      post(`api key ${field} = ${label}`, '/v1/api-keys', withField(validKey(), field, value), { as: 'admin' });
    }
  }
  for (const role of ['root', 'ADMIN', 'Admin', 'superuser', 'admin ', 'viewer\u0000'])
    post(`api key role ${JSON.stringify(role)}`, '/v1/api-keys', { ...validKey(), role }, { as: 'admin' });

  // Bodies of the other write routes, on objects where even a valid body changes nothing (a running rollout
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

  // Idempotency-Key on an otherwise valid rollout.
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
});
