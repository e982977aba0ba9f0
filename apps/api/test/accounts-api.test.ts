import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseEndpointAllowlist } from '@fleet/accounts';
import { findAccountCalling, insertRollout, listEvents } from '@fleet/db';
import { createSecretBox, parseEncryptionKey } from '@fleet/secrets';
import type { ApiHarness } from './support.ts';
import { startApi } from './support.ts';

const box = createSecretBox({ current: parseEncryptionKey(randomBytes(32).toString('base64')) });
const ACCOUNT = '1111111111111111';
const OTHER = '2222222222222222';
const CREDENTIALS = {
  accessKeyId: 'LTAIapitestkeyAB12',
  accessKeySecret: 'api-test-secret-Xk29Pq',
  securityToken: 'api-sts-token-Mv61Bn',
};
const ROTATED = { accessKeyId: 'LTAIapitestkeyCD34', accessKeySecret: 'api-test-secret-rotated-Tg48Ws' };

let api: ApiHarness;
let noKey: ApiHarness;
beforeAll(async () => {
  api = await startApi({ secretBox: box, endpointAllowlist: parseEndpointAllowlist('*.aliyuncs.com,127.0.0.1:8787') });
  noKey = await startApi({ secretBox: null });
});
afterAll(async () => {
  await api.close();
  await noKey.close();
});

const create = (body: Record<string, unknown>, key = api.adminKey) => api.requestAs(key, 'POST', '/v1/accounts', body);

describe('/v1/accounts', () => {
  it('stores the credentials sealed, answers the AccessKeyId masked and never a secret, and writes account.created', async () => {
    const made = await create({
      userId: ACCOUNT,
      name: 'production',
      credentials: CREDENTIALS,
      endpoint: 'https://metrics.cn-hangzhou.aliyuncs.com/',
      rateLimitRps: 20,
    });
    expect(made.status).toBe(201);
    expect(made.headers.get('location')).toBe(`/v1/accounts/${ACCOUNT}`);
    expect(made.body).toEqual({
      userId: ACCOUNT,
      name: 'production',
      endpoint: 'https://metrics.cn-hangzhou.aliyuncs.com/',
      rateLimitRps: 20,
      rateBurst: null,
      accessKeyId: '****AB12',
      hasSecurityToken: true,
      credentialsUpdatedAt: expect.any(String),
      createdAt: expect.any(String),
      updatedAt: expect.any(String),
    });
    const stored = (await findAccountCalling(api.db, ACCOUNT))!.credentials!;
    expect(stored.accessKeySecret).toMatch(/^fsv1\./);
    expect(stored.securityToken).toMatch(/^fsv1\./);
    const rows = JSON.stringify(await api.db.pool.query('SELECT * FROM account_credentials')).concat(
      JSON.stringify(await api.db.pool.query('SELECT * FROM fleet_event')),
    );
    expect(rows).not.toContain(CREDENTIALS.accessKeySecret);
    expect(rows).not.toContain(CREDENTIALS.securityToken);
    const { events } = await listEvents(api.db, { userId: ACCOUNT, type: 'account.created', limit: 10 });
    expect(events.map((e) => e.data)).toEqual([
      expect.objectContaining({ name: 'production', accessKeyId: '****AB12', hasSecurityToken: true }),
    ]);
    expect((await create({ userId: ACCOUNT, name: 'again' })).body).toMatchObject({
      status: 409,
      code: 'account_exists',
    });
  });

  it('refuses an endpoint outside CMS_ENDPOINT_ALLOWLIST with 422 naming the field, and stores nothing', async () => {
    const refused = await create({ userId: OTHER, name: 'ssrf', endpoint: 'http://10.0.0.1:8787/' });
    expect(refused.status).toBe(422);
    expect(refused.body).toMatchObject({
      code: 'endpoint_not_allowed',
      errors: [{ field: 'endpoint', in: 'body', message: expect.stringContaining('CMS_ENDPOINT_ALLOWLIST') }],
    });
    expect((await api.request('GET', `/v1/accounts/${OTHER}`)).status).toBe(404);
    const patched = await api.request('PATCH', `/v1/accounts/${ACCOUNT}`, { endpoint: 'http://evil.example.com/' });
    expect(patched.status).toBe(422);
  });

  it('never repeats a refused secret in a validation error', async () => {
    const refused = await create({
      userId: OTHER,
      name: 'bad',
      credentials: { accessKeyId: 'LTAIok', accessKeySecret: 'short s3cr3t with spaces' },
    });
    expect(refused.status).toBe(400);
    expect(refused.body.errors[0].field).toBe('credentials.accessKeySecret');
    expect(JSON.stringify(refused.body)).not.toContain('s3cr3t');
  });

  it('rotates the credentials (account.credentials_rotated), changes settings with PATCH, and keeps both secrets out of every answer', async () => {
    const before = (await api.request('GET', `/v1/accounts/${ACCOUNT}`)).body;
    const rotated = await api.request('PUT', `/v1/accounts/${ACCOUNT}/credentials`, ROTATED);
    expect(rotated.status).toBe(200);
    expect(rotated.body).toMatchObject({ accessKeyId: '****CD34', hasSecurityToken: false });
    expect(Date.parse(rotated.body.credentialsUpdatedAt)).toBeGreaterThanOrEqual(
      Date.parse(before.credentialsUpdatedAt),
    );
    const patched = await api.request('PATCH', `/v1/accounts/${ACCOUNT}`, { rateLimitRps: null, rateBurst: 5 });
    expect(patched.body).toMatchObject({ rateLimitRps: null, rateBurst: 5, accessKeyId: '****CD34' });
    const list = await api.request('GET', '/v1/accounts');
    expect(list.body.items.map((a: { userId: string }) => a.userId)).toEqual([ACCOUNT]);
    const { events } = await listEvents(api.db, { userId: ACCOUNT, limit: 10 });
    expect(events.map((e) => e.type)).toEqual(['account.created', 'account.credentials_rotated', 'account.updated']);
    expect(events[1]!.data).toMatchObject({ accessKeyId: '****CD34', previousAccessKeyId: '****AB12' });
    expect(events[2]!.data).toMatchObject({ changed: ['rateLimitRps', 'rateBurst'] });
    const text = JSON.stringify([before, rotated.body, patched.body, list.body, events.map((e) => e.data)]);
    for (const secret of [CREDENTIALS.accessKeySecret, CREDENTIALS.securityToken, ROTATED.accessKeySecret])
      expect(text).not.toContain(secret);
  });

  it('is tenant-scoped: an admin of other accounts sees none of this one (404), and a viewer may not use it (403)', async () => {
    const otherAdmin = await api.createKey('admin', [OTHER]);
    expect((await api.requestAs(otherAdmin.key, 'GET', `/v1/accounts/${ACCOUNT}`)).status).toBe(404);
    expect((await api.requestAs(otherAdmin.key, 'GET', '/v1/accounts')).body.items).toEqual([]);
    expect((await api.requestAs(otherAdmin.key, 'PUT', `/v1/accounts/${ACCOUNT}/credentials`, ROTATED)).status).toBe(
      404,
    );
    expect((await create({ userId: ACCOUNT, name: 'theirs' }, otherAdmin.key)).status).toBe(404);
    const viewer = await api.createKey('viewer', 'all');
    expect((await api.requestAs(viewer.key, 'GET', '/v1/accounts')).status).toBe(403);
  });

  it('refuses to delete an account while a rollout of it is open (409), and deletes it after', async () => {
    const { rollout } = await insertRollout(api.db, {
      userId: ACCOUNT,
      force: false,
      concurrency: 1,
      maxAttempts: 1,
      policy: {},
      instanceIds: ['i-open1'],
    });
    const refused = await api.request('DELETE', `/v1/accounts/${ACCOUNT}`);
    expect(refused.status).toBe(409);
    expect(refused.body.code).toBe('account_has_open_rollouts');
    await api.db.prisma.rollout.update({ where: { id: rollout.id }, data: { status: 'cancelled' } });
    expect((await api.request('DELETE', `/v1/accounts/${ACCOUNT}`)).status).toBe(204);
    expect((await api.request('GET', `/v1/accounts/${ACCOUNT}`)).status).toBe(404);
    expect(await api.db.prisma.accountCredentials.count({ where: { userId: ACCOUNT } })).toBe(0);
  });

  it('without FLEET_ENCRYPTION_KEY refuses credentials with a clear 503 and stores nothing, and still makes an account without', async () => {
    const refused = await noKey.request('POST', '/v1/accounts', { userId: OTHER, name: 'x', credentials: ROTATED });
    expect(refused.status).toBe(503);
    expect(refused.body).toMatchObject({ code: 'encryption_not_configured' });
    expect(refused.body.detail).toContain('FLEET_ENCRYPTION_KEY');
    expect(await noKey.db.prisma.account.count()).toBe(0);
    expect(
      (await noKey.request('POST', '/v1/accounts', { userId: OTHER, name: 'limits only', rateLimitRps: 5 })).status,
    ).toBe(201);
  });
});
