import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBootstrapAdminKey, findActiveApiKeyByHash, generateApiKey, hashApiKey, listEvents } from '@fleet/db';
import { waitFor } from '@fleet/testing';
import type { ApiHarness, ApiResponse } from './support.ts';
import { startApi, USER_ID } from './support.ts';

const OTHER_USER = '2222222222222222';
const THIRD_USER = '3333333333333333';
const run = promisify(execFile);
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

let api: ApiHarness;
beforeAll(async () => {
  api = await startApi();
});
afterAll(async () => {
  await api.close();
});

function expectProblem(res: ApiResponse, status: number, code: string) {
  expect(res.status).toBe(status);
  expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  expect(res.body).toMatchObject({ status, code });
}

describe('authentication', () => {
  it.each([
    ['no Authorization header', null, false],
    ['an empty Bearer', 'Bearer ', true],
    ['Basic credentials', 'Basic dXNlcjpwYXNz', true],
    ['a well-formed key nobody made', `Bearer ${'flt_' + 'A'.repeat(43)}`, true],
    ['a key with characters outside the token syntax', 'Bearer flt_abc<script>', true],
    ['a key longer than 512 characters', `Bearer ${'a'.repeat(600)}`, true],
    ['the key hash instead of the key', 'HASH', true],
  ])(
    '%s: 401 problem+json with WWW-Authenticate: Bearer, and nothing read',
    async (_name, authorization, invalidToken) => {
      const headers: Record<string, string> = {};
      if (authorization === 'HASH') headers.authorization = `Bearer ${hashApiKey(api.adminKey)}`;
      else if (authorization !== null) headers.authorization = authorization;
      const res = await api.requestAs(null, 'GET', '/v1/rollouts', undefined, headers);
      expectProblem(res, 401, 'unauthenticated');
      expect(res.headers.get('www-authenticate')).toBe(
        invalidToken ? 'Bearer realm="fleet", error="invalid_token"' : 'Bearer realm="fleet"',
      );
      expect(res.headers.get('x-request-id')).toBeTruthy();
    },
  );

  it('accepts the scheme in any case', async () => {
    const res = await api.requestAs(null, 'GET', '/v1/rollouts', undefined, {
      authorization: `bearer ${api.adminKey}`,
    });
    expect(res.status).toBe(200);
  });

  it('refuses a revoked key at once, with the same answer as an unknown one', async () => {
    const { id, key } = await api.createKey('viewer', [USER_ID]);
    expect((await api.requestAs(key, 'GET', '/v1/rollouts')).status).toBe(200);
    expect((await api.request('DELETE', `/v1/api-keys/${id}`)).status).toBe(204);
    const res = await api.requestAs(key, 'GET', '/v1/rollouts');
    expectProblem(res, 401, 'unauthenticated');
    expect(res.body.detail).toBe(
      (await api.requestAs('flt_unknownunknownunknownunknown', 'GET', '/v1/rollouts')).body.detail,
    );
  });

  it('checks the key before reading the body: an unauthenticated malformed body is a 401, not a 400', async () => {
    const res = await api.requestAs(null, 'POST', '/v1/rollouts', '{"userId": ', {
      'content-type': 'application/json',
    });
    expectProblem(res, 401, 'unauthenticated');
  });

  it('leaves /healthz, /readyz, /openapi.json and /docs public', async () => {
    for (const p of ['/healthz', '/readyz', '/openapi.json', '/docs'])
      expect((await api.requestAs(null, 'GET', p)).status).toBe(200);
  });

  it('logs failures with the key prefix only, never the key, each line with the request id', async () => {
    const bogus = `flt_${'Zq9'.repeat(14)}x`;
    await api.requestAs(bogus, 'GET', '/v1/rollouts', undefined, { 'x-request-id': 'auth-log-check-1' });
    const lines = api.logLines.filter((l) => l.includes('auth-log-check-1'));
    const failure = lines.map((l) => JSON.parse(l)).find((l) => l.message === 'authentication failed');
    expect(failure).toMatchObject({ keyPrefix: bogus.slice(0, 12), requestId: 'auth-log-check-1', level: 'warn' });
    expect(lines.map((l) => JSON.parse(l).message)).toContain('http request');
    expect(api.logLines.join('\n')).not.toContain(bogus);
    expect(api.logLines.join('\n')).not.toContain(api.adminKey);
  });

  it("records a key's last use after a successful request, and not after a refused one", async () => {
    const { id, key } = await api.createKey('viewer', [USER_ID]);
    await api.requestAs(key, 'POST', '/v1/rollouts', { userId: USER_ID, instanceIds: ['i-abc'] });
    await api.requestAs(key, 'GET', '/v1/rollouts?limit=0');
    await new Promise((r) => setTimeout(r, 200));
    expect((await api.db.prisma.apiKey.findUniqueOrThrow({ where: { id } })).lastUsedAt).toBeNull();
    expect((await api.requestAs(key, 'GET', '/v1/rollouts')).status).toBe(200);
    await waitFor(
      'lastUsedAt',
      async () => (await api.db.prisma.apiKey.findUniqueOrThrow({ where: { id } })).lastUsedAt,
    );
  });
});

describe('roles', () => {
  let viewer: string;
  let operator: string;
  let scopedAdmin: string;
  beforeAll(async () => {
    viewer = (await api.createKey('viewer', [USER_ID])).key;
    operator = (await api.createKey('operator', [USER_ID])).key;
    scopedAdmin = (await api.createKey('admin', [USER_ID])).key;
  });

  it('a viewer reads but may not create a rollout (403, nothing written)', async () => {
    expect((await api.requestAs(viewer, 'GET', '/v1/rollouts')).status).toBe(200);
    const before = await api.db.prisma.rollout.count();
    expectProblem(
      await api.requestAs(viewer, 'POST', '/v1/rollouts', { userId: USER_ID, instanceIds: ['i-abc'] }),
      403,
      'forbidden',
    );
    expect(await api.db.prisma.rollout.count()).toBe(before);
  });

  it('an operator creates rollouts but may not manage keys', async () => {
    const created = await api.requestAs(operator, 'POST', '/v1/rollouts', {
      userId: USER_ID,
      instanceIds: ['i-role1'],
    });
    expect(created.status).toBe(202);
    expect(
      (await api.db.prisma.rollout.findUniqueOrThrow({ where: { id: created.body.id } })).createdByKeyId,
    ).not.toBeNull();
    expectProblem(await api.requestAs(operator, 'GET', '/v1/api-keys'), 403, 'forbidden');
    expectProblem(
      await api.requestAs(operator, 'POST', '/v1/api-keys', { name: 'x', role: 'viewer', userIds: [USER_ID] }),
      403,
      'forbidden',
    );
  });

  it('a viewer may not write anywhere under /v1, routes added later included (403 before the route runs)', async () => {
    expectProblem(await api.requestAs(viewer, 'PATCH', '/v1/anything-added-later', {}), 403, 'forbidden');
    expectProblem(
      await api.requestAs(viewer, 'DELETE', '/v1/api-keys/00000000-0000-4000-8000-000000000000'),
      403,
      'forbidden',
    );
  });

  it('answers a role check before looking anything up: 403 for a viewer whatever the rollout id', async () => {
    expectProblem(
      await api.requestAs(viewer, 'POST', '/v1/rollouts', 'not json', { 'content-type': 'text/plain' }),
      403,
      'forbidden',
    );
  });

  it('a scoped admin manages keys within its accounts only', async () => {
    const made = await api.requestAs(scopedAdmin, 'POST', '/v1/api-keys', {
      name: 'ci deploy',
      role: 'operator',
      userIds: [USER_ID, USER_ID],
    });
    expect(made.status).toBe(201);
    expect(made.body).toMatchObject({ role: 'operator', userIds: [USER_ID], allAccounts: false });
    expectProblem(
      await api.requestAs(scopedAdmin, 'POST', '/v1/api-keys', {
        name: 'x',
        role: 'viewer',
        userIds: [USER_ID, OTHER_USER],
      }),
      404,
      'not_found',
    );
    expectProblem(
      await api.requestAs(scopedAdmin, 'POST', '/v1/api-keys', { name: 'x', role: 'admin', allAccounts: true }),
      403,
      'forbidden',
    );
    const other = await api.createKey('viewer', [OTHER_USER]);
    const mixed = await api.createKey('viewer', [USER_ID, OTHER_USER]);
    const listed = await api.requestAs(scopedAdmin, 'GET', '/v1/api-keys');
    const ids = listed.body.items.map((k: { id: string }) => k.id);
    expect(ids).toContain(made.body.id);
    expect(ids).not.toContain(other.id);
    expect(ids).not.toContain(mixed.id);
    expect(listed.body.items.every((k: { allAccounts: boolean }) => !k.allAccounts)).toBe(true);
    expectProblem(await api.requestAs(scopedAdmin, 'DELETE', `/v1/api-keys/${other.id}`), 404, 'not_found');
    expectProblem(await api.requestAs(scopedAdmin, 'GET', `/v1/api-keys/${mixed.id}`), 404, 'not_found');
    expect((await api.db.prisma.apiKey.findUniqueOrThrow({ where: { id: other.id } })).revokedAt).toBeNull();
  });
});

describe('key management', () => {
  it('makes a key shown once, which then works with its role and accounts; the key and its hash never appear again', async () => {
    const made = await api.request('POST', '/v1/api-keys', {
      name: 'reporting',
      role: 'viewer',
      userIds: [THIRD_USER],
    });
    expect(made.status).toBe(201);
    expect(made.headers.get('location')).toBe(`/v1/api-keys/${made.body.id}`);
    expect(made.headers.get('cache-control')).toBe('no-store');
    const key: string = made.body.key;
    expect(key).toMatch(/^flt_[A-Za-z0-9_-]{43}$/);
    expect(made.body.keyPrefix).toBe(key.slice(0, 12));
    const stored = await api.db.prisma.apiKey.findUniqueOrThrow({ where: { id: made.body.id } });
    expect(stored.keyHash).toBe(hashApiKey(key));
    expect(JSON.stringify(stored)).not.toContain(key);

    expect((await api.requestAs(key, 'GET', `/v1/rollouts?userId=${THIRD_USER}`)).status).toBe(200);
    expect((await api.requestAs(key, 'GET', `/v1/rollouts?userId=${USER_ID}`)).status).toBe(404);

    const one = await api.request('GET', `/v1/api-keys/${made.body.id}`);
    const list = await api.request('GET', '/v1/api-keys?limit=1000');
    for (const res of [one, list]) {
      const text = JSON.stringify(res.body);
      expect(text).not.toContain(key);
      expect(text).not.toContain(stored.keyHash);
      expect(text).not.toContain('keyHash');
    }
    expect(one.body).toMatchObject({
      id: made.body.id,
      name: 'reporting',
      role: 'viewer',
      userIds: [THIRD_USER],
      revokedAt: null,
    });
    expect(api.logLines.join('\n')).not.toContain(key);

    expect((await api.request('DELETE', `/v1/api-keys/${made.body.id}`)).status).toBe(204);
    expect((await api.request('DELETE', `/v1/api-keys/${made.body.id}`)).status).toBe(204);
    expect((await api.request('GET', `/v1/api-keys/${made.body.id}`)).body.revokedAt).toEqual(expect.any(String));
  });

  it.each([
    ['no accounts and not allAccounts', { name: 'x', role: 'viewer' }, 'userIds'],
    ['both userIds and allAccounts', { name: 'x', role: 'viewer', userIds: [USER_ID], allAccounts: true }, 'userIds'],
    ['an unknown role', { name: 'x', role: 'root', userIds: [USER_ID] }, 'role'],
    ['a name with a control character', { name: 'a\u0007b', role: 'viewer', userIds: [USER_ID] }, 'name'],
    ['a name with a right-to-left override', { name: 'abc\u202Egpj.exe', role: 'viewer', userIds: [USER_ID] }, 'name'],
    ['a key hash given by the caller', { name: 'x', role: 'viewer', userIds: [USER_ID], keyHash: 'ab' }, 'keyHash'],
    ['an empty userIds', { name: 'x', role: 'viewer', userIds: [] }, 'userIds'],
  ])('refuses a key with %s (400 naming the field, nothing written)', async (_name, body, field) => {
    const before = await api.db.prisma.apiKey.count();
    const res = await api.request('POST', '/v1/api-keys', body);
    expectProblem(res, 400, 'validation_failed');
    expect(res.body.errors.map((e: { field: string }) => e.field)).toContain(field);
    expect(await api.db.prisma.apiKey.count()).toBe(before);
  });

  it('refuses Idempotency-Key when making a key (a key cannot be shown twice)', async () => {
    const res = await api.request(
      'POST',
      '/v1/api-keys',
      { name: 'x', role: 'viewer', userIds: [USER_ID] },
      { 'idempotency-key': 'k1' },
    );
    expectProblem(res, 400, 'validation_failed');
  });
});

describe('the bootstrap admin key and the CLI', () => {
  it('stores FLEET_ADMIN_API_KEY once as an admin for every account, idempotently, and never un-revokes it', async () => {
    const key = generateApiKey();
    const [a, b] = await Promise.all([ensureBootstrapAdminKey(api.db, key), ensureBootstrapAdminKey(api.db, key)]);
    expect(a.record.id).toBe(b.record.id);
    expect(await api.db.prisma.apiKey.count({ where: { keyHash: hashApiKey(key) } })).toBe(1);
    expect(a.record).toMatchObject({ role: 'admin', allAccounts: true });
    expect((await api.requestAs(key, 'GET', '/v1/api-keys')).status).toBe(200);
    await api.request('DELETE', `/v1/api-keys/${a.record.id}`);
    const again = await ensureBootstrapAdminKey(api.db, key);
    expect(again.record.revokedAt).not.toBeNull();
    expect((await api.requestAs(key, 'GET', '/v1/rollouts')).status).toBe(401);
  });

  it('`create-api-key` prints a key on stdout alone, which the API accepts with the given role and accounts', async () => {
    const dbUrl = (api as ApiHarness & { dbUrl: string }).dbUrl;
    const { stdout, stderr } = await run(
      process.execPath,
      [
        '--import',
        'tsx',
        path.join(repoRoot, 'apps/cli/src/main.ts'),
        'create-api-key',
        '--name',
        'cli made',
        '--role',
        'operator',
        '--user-id',
        OTHER_USER,
      ],
      {
        cwd: repoRoot,
        env: { ...process.env, DATABASE_URL: dbUrl },
      },
    );
    const key = stdout.trim();
    expect(key).toMatch(/^flt_[A-Za-z0-9_-]{43}$/);
    expect(stderr).toContain('shown this once');
    expect(stderr).not.toContain(key);
    const created = await api.requestAs(key, 'POST', '/v1/rollouts', { userId: OTHER_USER, instanceIds: ['i-cli1'] });
    expect(created.status).toBe(202);
    expect(
      (await api.requestAs(key, 'POST', '/v1/rollouts', { userId: USER_ID, instanceIds: ['i-cli1'] })).status,
    ).toBe(404);
    expect((await api.requestAs(key, 'GET', '/v1/api-keys')).status).toBe(403);
    // The key and its api_key.created event were written in one transaction, by the CLI.
    const record = (await findActiveApiKeyByHash(api.db, hashApiKey(key)))!;
    const events = (await listEvents(api.db, { type: 'api_key.created', limit: 1000 })).events.filter(
      (e) => (e.data as { keyId: string }).keyId === record.id,
    );
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      actor: { kind: 'system', id: 'fleet-cli' },
      data: { name: 'cli made', role: 'operator', userIds: [OTHER_USER], allAccounts: false },
    });
  });

  it('`create-api-key` refuses bad arguments with exit code 2 and writes nothing', async () => {
    const before = await api.db.prisma.apiKey.count();
    const dbUrl = (api as ApiHarness & { dbUrl: string }).dbUrl;
    const failed = await run(
      process.execPath,
      [
        '--import',
        'tsx',
        path.join(repoRoot, 'apps/cli/src/main.ts'),
        'create-api-key',
        '--name',
        'x',
        '--role',
        'root',
        '--all-accounts',
      ],
      {
        cwd: repoRoot,
        env: { ...process.env, DATABASE_URL: dbUrl },
      },
    ).then(
      () => null,
      (error: { code: number; stderr: string }) => error,
    );
    expect(failed?.code).toBe(2);
    expect(failed?.stderr).toContain('--role');
    expect(await api.db.prisma.apiKey.count()).toBe(before);
  });
});
