import { describe, expect, it } from 'vitest';
import { KEY_ID, USER_ID, callJson, simJson, useSimulators } from './support/client.ts';

const simulator = useSimulators();

const ACCOUNT_A = '1111111111111111';
const ACCOUNT_B = '2222222222222222';
const KEY_A = { accessKeyId: 'LTAIaccountkeyA01', accessKeySecret: 'secret-of-account-a' };
const KEY_B = { accessKeyId: 'LTAIaccountkeyB01', accessKeySecret: 'secret-of-account-b' };
const STS = { accessKeyId: 'STS.accountkeyA02', accessKeySecret: 'sts-secret-of-a', securityToken: 'token-of-a' };

const install = (url: string, key: { accessKeyId: string; accessKeySecret: string }, userId: string, extra = {}) =>
  callJson(
    url,
    'NodeInstall',
    { UserId: userId, InstanceId: 'i-acc1', Force: 'true', ...extra },
    { accessKeyId: key.accessKeyId, secret: key.accessKeySecret },
  );

describe('simulator accounts', () => {
  it('refuses a key acting for an account that is not its owner with 403 Forbidden.NotAuthorized, and lets the built-in pair act for any', async () => {
    const running = await simulator({
      accounts: [
        { ...KEY_A, userId: ACCOUNT_A },
        { ...KEY_B, userId: ACCOUNT_B },
      ],
    });
    expect((await install(running.url, KEY_A, ACCOUNT_A)).body).toMatchObject({ Success: true });
    const wrong = await install(running.url, KEY_A, ACCOUNT_B);
    expect(wrong.status).toBe(403);
    expect(wrong.body).toMatchObject({ Code: 'Forbidden.NotAuthorized' });
    expect((await callJson(running.url, 'NodeInstall', { UserId: ACCOUNT_B, InstanceId: 'i-acc2' })).status).toBe(200);

    const stats = running.sim.stats();
    expect(stats.callsByAccessKeyId).toEqual({ [KEY_A.accessKeyId]: 2, [KEY_ID]: 1 });
    expect(stats.callsByUserId).toEqual({ [ACCOUNT_A]: 1, [ACCOUNT_B]: 2 });
    expect(stats.callsByUserIdAndAccessKeyId).toEqual({
      [ACCOUNT_A]: { [KEY_A.accessKeyId]: 1 },
      [ACCOUNT_B]: { [KEY_A.accessKeyId]: 1, [KEY_ID]: 1 },
    });
    expect(stats.byCode['Forbidden.NotAuthorized']).toBe(1);
  });

  it('checks an STS key against its token: missing, mismatched and expired tokens are refused', async () => {
    let now = Date.parse('2026-12-02T05:00:00Z');
    const running = await simulator({
      now: () => now,
      accounts: [{ ...STS, userId: ACCOUNT_A, tokenExpiresAt: now + 60_000 }],
    });
    const stamp = () => new Date(now).toISOString().replace(/\.\d{3}Z$/, 'Z');
    const call = (extra: Record<string, string>) =>
      callJson(
        running.url,
        'NodeInstall',
        { UserId: ACCOUNT_A, InstanceId: 'i-sts1', ...extra },
        { accessKeyId: STS.accessKeyId, secret: STS.accessKeySecret, timestamp: stamp() },
      );
    expect((await call({})).body).toMatchObject({ Code: 'InvalidSecurityToken.MissingParameter' });
    expect((await call({ SecurityToken: 'not-the-token' })).body).toMatchObject({
      Code: 'InvalidSecurityToken.Mismatch',
    });
    expect((await call({ SecurityToken: STS.securityToken })).body).toMatchObject({ Success: true });
    now += 60_000;
    expect((await call({ SecurityToken: STS.securityToken })).body).toMatchObject({
      Code: 'InvalidSecurityToken.Expired',
    });
  });

  it("throttles each account at its own qps, whatever the scenario's", async () => {
    const running = await simulator({
      faults: { throttleQps: 100 },
      accounts: [
        { ...KEY_A, userId: ACCOUNT_A, qps: 2 },
        { ...KEY_B, userId: ACCOUNT_B },
      ],
    });
    const codesOf = async (key: typeof KEY_A, userId: string) => {
      const answers = [];
      for (let i = 0; i < 4; i++)
        answers.push(await install(running.url, key, userId, { InstanceId: `i-q${userId}${i}` }));
      return answers.map((a) => a.body.Code ?? 'ok');
    };
    expect(await codesOf(KEY_A, ACCOUNT_A)).toEqual(['ok', 'ok', 'Throttling.User', 'Throttling.User']);
    expect(await codesOf(KEY_B, ACCOUNT_B)).toEqual(['ok', 'ok', 'ok', 'ok']);
  });

  it('POST /_sim/accounts adds and replaces keys while running, never shows a secret, and refuses a bad entry whole', async () => {
    const running = await simulator();
    expect((await install(running.url, KEY_A, ACCOUNT_A)).body).toMatchObject({ Code: 'InvalidAccessKeyId.NotFound' });

    const bad = await simJson(running.url, '/_sim/accounts', {
      method: 'POST',
      body: [
        { ...KEY_A, userId: ACCOUNT_A },
        { ...KEY_B, userId: 'not-digits' },
      ],
    });
    expect(bad.status).toBe(400);
    expect(bad.body.error).toContain('accounts[1].userId');
    expect((await simJson(running.url, '/_sim/accounts')).body).toEqual([]);

    const defined = await simJson(running.url, '/_sim/accounts', {
      method: 'POST',
      body: [{ ...KEY_A, userId: ACCOUNT_A, qps: 7 }],
    });
    expect(defined.status).toBe(200);
    expect(defined.body).toEqual([
      { accessKeyId: KEY_A.accessKeyId, userId: ACCOUNT_A, hasSecurityToken: false, tokenExpiresAt: null, qps: 7 },
    ]);
    expect(JSON.stringify(defined.body)).not.toContain(KEY_A.accessKeySecret);
    expect((await install(running.url, KEY_A, ACCOUNT_A)).body).toMatchObject({ Success: true });

    // Given to another owner, the same key now acts for that account only.
    await simJson(running.url, '/_sim/accounts', { method: 'POST', body: { ...KEY_A, userId: USER_ID } });
    expect((await install(running.url, KEY_A, ACCOUNT_A)).body).toMatchObject({ Code: 'Forbidden.NotAuthorized' });
    expect((await install(running.url, KEY_A, USER_ID)).body).toMatchObject({ Success: true });
  });
});
