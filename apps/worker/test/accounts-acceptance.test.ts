/**
 * Issue #20's acceptance, with the product as processes (simulator with accounts, API, three workers, reconciler),
 * driven over REST: two accounts with their own keys and quotas, one rollout each, a rotation mid-rollout, a key that
 * does not own its account pausing the rollout until fixed, an endpoint outside the allowlist refused, and a scan of
 * every log line, every table, every Redis key and every API answer of the run for each secret.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createDatabase } from '@fleet/db';
import type { Database } from '@fleet/db';
import { Redis } from 'ioredis';
import {
  createTestDatabase,
  deleteKeysWithPrefix,
  instanceIds,
  localAppsEnv,
  spawnApp,
  testRedisUrl,
  uniquePrefix,
  waitForHttpOk,
} from '@fleet/testing';
import type { AppProcess, TestDatabase } from '@fleet/testing';

const ACCOUNT_A = '1111111111111111';
const ACCOUNT_B = '2222222222222222';
const ACCOUNT_C = '3333333333333333';
const KEY_A1 = { accessKeyId: 'LTAIacceptA00001', accessKeySecret: 'accept-secret-a1-Qz81Lm' };
const KEY_A2 = { accessKeyId: 'LTAIacceptA00002', accessKeySecret: 'accept-secret-a2-Wx62Rt' };
/** STS credentials: the token is a secret too. */
const KEY_B = {
  accessKeyId: 'STS.acceptB00001',
  accessKeySecret: 'accept-secret-b-Yk39Fd',
  securityToken: 'accept-sts-token-b-Pn57Hs',
};
const KEY_C = { accessKeyId: 'LTAIacceptC00001', accessKeySecret: 'accept-secret-c-Jb24Vc' };
const OWN = { accessKeyId: 'LTAIacceptown001', accessKeySecret: 'accept-secret-own-Mr93Ke' };
const SECRETS = [KEY_A1, KEY_A2, KEY_C, OWN]
  .map((k) => k.accessKeySecret)
  .concat(KEY_B.accessKeySecret, KEY_B.securityToken);
const RATE_A = 20;
const RATE_B = 10;
const ADMIN_KEY = `flt_accounts_${'a'.repeat(40)}`;
const ENCRYPTION_KEY = randomBytes(32).toString('base64');

let testDb: TestDatabase;
let db: Database;
const prefix = uniquePrefix('accounts');
const processes: AppProcess[] = [];
let apiUrl: string;
let simUrl: string;
/** Every answer body the API gave this run, for the secret scan. */
const answers: string[] = [];

// The API's and the simulator's JSON as sent: the tests assert its shape, so it is not typed ahead of them (as
// ApiResponse in apps/api/test/support.ts).
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

async function api(method: string, path: string, body?: unknown): Promise<{ status: number; body: Json }> {
  const response = await fetch(`${apiUrl}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${ADMIN_KEY}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  answers.push(text);
  return { status: response.status, body: text === '' ? undefined : JSON.parse(text) };
}

async function simStats(): Promise<Json> {
  return (await fetch(`${simUrl}_sim/stats`)).json();
}

async function waitForStatus(rolloutId: string, status: string, timeoutMs = 120_000): Promise<Json> {
  let last: Json;
  await vi.waitFor(
    async () => {
      last = (await api('GET', `/v1/rollouts/${rolloutId}`)).body;
      expect(last.status).toBe(status);
    },
    { timeout: timeoutMs, interval: 250 },
  );
  return last;
}

async function createRollout(userId: string, ids: string[]): Promise<string> {
  const created = await api('POST', '/v1/rollouts', { userId, instanceIds: ids, concurrency: 10, force: true });
  expect(created.status).toBe(202);
  return created.body.id;
}

/** Most NodeInstall calls of the account that started within one second (the attempts' start, as claimed). */
async function maxCallsInAnySecond(userId: string): Promise<number> {
  const rows = await db.prisma.$queryRaw<{ n: bigint }[]>`
    SELECT count(*) AS n FROM install_attempt a JOIN rollout r ON r.id = a.rollout_id
    WHERE r.user_id = ${userId} GROUP BY date_trunc('second', a.started_at) ORDER BY n DESC LIMIT 1`;
  return Number(rows[0]?.n ?? 0);
}

/** A key's whole value as text, whatever its type (DUMP would compress long strings out of sight). */
async function redisValueText(redis: Redis, key: string): Promise<string> {
  const type = await redis.type(key);
  switch (type) {
    case 'string':
      return (await redis.get(key)) ?? '';
    case 'hash':
      return JSON.stringify(await redis.hgetall(key));
    case 'list':
      return JSON.stringify(await redis.lrange(key, 0, -1));
    case 'set':
      return JSON.stringify(await redis.smembers(key));
    case 'zset':
      return JSON.stringify(await redis.zrange(key, 0, -1, 'WITHSCORES'));
    case 'stream':
      return JSON.stringify(await redis.xrange(key, '-', '+'));
    default:
      return type;
  }
}

beforeAll(async () => {
  testDb = await createTestDatabase();
  db = createDatabase({ url: testDb.url, poolMax: 3 });
  const local = await localAppsEnv({ databaseUrl: testDb.url, prefix });
  ({ apiUrl, simulatorUrl: simUrl } = local);
  const simHost = new URL(simUrl).host;
  const env = {
    ...local.env,
    SIM_LATENCY_MS: '20',
    SIM_FAILURE_RATE: '0',
    SIM_INSTALL_DURATION_MS: '200',
    CMS_ACCESS_KEY_ID: OWN.accessKeyId,
    CMS_ACCESS_KEY_SECRET: OWN.accessKeySecret,
    SIM_ACCOUNTS: JSON.stringify([
      { ...KEY_A1, userId: ACCOUNT_A, qps: RATE_A + 5 },
      { ...KEY_A2, userId: ACCOUNT_A },
      { ...KEY_B, userId: ACCOUNT_B, qps: RATE_B + 5 },
      { ...KEY_C, userId: ACCOUNT_C },
    ]),
    FLEET_ADMIN_API_KEY: ADMIN_KEY,
    FLEET_ENCRYPTION_KEY: ENCRYPTION_KEY,
    CMS_ENDPOINT_ALLOWLIST: `*.aliyuncs.com,${simHost}`,
    ROLLOUT_POLL_MS: '200',
    // Each worker runs at most 4 of a rollout's 10 jobs at once, so all three work on both rollouts: a job holds its
    // place while it waits for its account's rate, and a worker that may take the whole rollout's concurrency keeps it.
    WORKER_CONCURRENCY: '4',
    ACCOUNT_REFRESH_MS: '1000',
    RECONCILE_INTERVAL_MS: '1000',
    VERIFY_WINDOW_MS: '30000',
    LOG_LEVEL: 'debug',
  };
  processes.push(
    spawnApp('simulator', env),
    spawnApp('api', env),
    ...[0, 1, 2].map((i) => spawnApp('worker', { ...env, WORKER_ID: `accounts-${i}` })),
    spawnApp('reconciler', env),
  );
  await waitForHttpOk('the simulator', `${simUrl}_sim/stats`);
  await waitForHttpOk('the API to be ready', `${apiUrl}/readyz`);
}, 120_000);

afterAll(async () => {
  await Promise.all(processes.map((p) => p.kill()));
  await deleteKeysWithPrefix(prefix);
  await db.close();
  await testDb.drop();
});

describe('many accounts, each with its own credentials and quota', () => {
  it('refuses an endpoint outside CMS_ENDPOINT_ALLOWLIST with 422, storing nothing', async () => {
    const refused = await api('POST', '/v1/accounts', {
      userId: ACCOUNT_C,
      name: 'elsewhere',
      endpoint: 'http://169.254.169.254/latest/',
      credentials: KEY_C,
    });
    expect(refused.status).toBe(422);
    expect(refused.body).toMatchObject({ code: 'endpoint_not_allowed', errors: [{ field: 'endpoint' }] });
    expect((await api('GET', `/v1/accounts/${ACCOUNT_C}`)).status).toBe(404);
  });

  it("runs two accounts' rollouts on three workers, each with its own key at its own rate; a rotation mid-rollout switches keys, none refused", async () => {
    const a = await api('POST', '/v1/accounts', {
      userId: ACCOUNT_A,
      name: 'account a',
      credentials: KEY_A1,
      rateLimitRps: RATE_A,
    });
    expect(a.status).toBe(201);
    expect(a.body).toMatchObject({ accessKeyId: '****0001', rateLimitRps: RATE_A, hasSecurityToken: false });
    expect(a.body.credentialsUpdatedAt).toEqual(expect.any(String));
    const b = await api('POST', '/v1/accounts', {
      userId: ACCOUNT_B,
      name: 'account b',
      credentials: KEY_B,
      rateLimitRps: RATE_B,
    });
    expect(b.body).toMatchObject({ accessKeyId: '****0001', hasSecurityToken: true });

    const rolloutA = await createRollout(ACCOUNT_A, instanceIds(300, 'i-acca'));
    const rolloutB = await createRollout(ACCOUNT_B, instanceIds(120, 'i-accb'));
    await vi.waitFor(
      async () => expect((await simStats()).callsByAccessKeyId[KEY_A1.accessKeyId]).toBeGreaterThan(40),
      {
        timeout: 60_000,
        interval: 100,
      },
    );
    const rotated = await api('PUT', `/v1/accounts/${ACCOUNT_A}/credentials`, KEY_A2);
    expect(rotated.status).toBe(200);
    expect(rotated.body.accessKeyId).toBe('****0002');
    // The next calls of every worker use the new key within 5 s, with no restart.
    await vi.waitFor(async () => expect((await simStats()).callsByAccessKeyId[KEY_A2.accessKeyId]).toBeGreaterThan(0), {
      timeout: 5000,
      interval: 100,
    });
    const finalA = await waitForStatus(rolloutA, 'completed');
    const finalB = await waitForStatus(rolloutB, 'completed');
    expect(finalA.counts).toMatchObject({ succeeded: 300 });
    expect(finalB.counts).toMatchObject({ succeeded: 120 });

    const stats = await simStats();
    expect(Object.keys(stats.callsByUserIdAndAccessKeyId[ACCOUNT_A]).sort()).toEqual([
      KEY_A1.accessKeyId,
      KEY_A2.accessKeyId,
    ]);
    expect(stats.callsByUserIdAndAccessKeyId[ACCOUNT_B]).toEqual({ [KEY_B.accessKeyId]: 120 });
    expect(stats.callsByUserId[ACCOUNT_A]).toBe(300);
    // No call refused: not by ownership, a token, the key (rotation) or throttling.
    expect(stats.rejected).toBe(0);
    expect(stats.throttled).toBe(0);
    // Each account within its own rate (plus the burst of 1), though three workers share both.
    expect(await maxCallsInAnySecond(ACCOUNT_A)).toBeLessThanOrEqual(RATE_A + 1);
    expect(await maxCallsInAnySecond(ACCOUNT_B)).toBeLessThanOrEqual(RATE_B + 1);
    // Neither starved the other: B's calls ran while A's did.
    const spans = await db.prisma.$queryRaw<{ user_id: string; first: Date; last: Date }[]>`
      SELECT r.user_id, min(a.started_at) AS first, max(a.started_at) AS last
      FROM install_attempt a JOIN rollout r ON r.id = a.rollout_id GROUP BY r.user_id`;
    const span = new Map(spans.map((s) => [s.user_id, s]));
    expect(span.get(ACCOUNT_B)!.first.getTime()).toBeLessThan(span.get(ACCOUNT_A)!.last.getTime());
    const workers = await db.prisma.installAttempt.groupBy({ by: ['workerId'], _count: true });
    expect(workers).toHaveLength(3);
  }, 240_000);

  it("pauses a rollout whose key is another account's (Forbidden.NotAuthorized); new credentials and a resume complete it, none failed", async () => {
    // Account C is given B's key by mistake.
    expect(
      (await api('POST', '/v1/accounts', { userId: ACCOUNT_C, name: 'account c', credentials: KEY_B })).status,
    ).toBe(201);
    const rolloutC = await createRollout(ACCOUNT_C, instanceIds(40, 'i-accc'));
    const paused = await waitForStatus(rolloutC, 'paused', 60_000);
    expect(paused.statusReason).toContain('Forbidden.NotAuthorized');

    expect((await api('PUT', `/v1/accounts/${ACCOUNT_C}/credentials`, KEY_C)).status).toBe(200);
    // Resume once every worker has read the new key (ACCOUNT_REFRESH_MS, 1 s here): a call still signed with the
    // old one would meet Forbidden.NotAuthorized again and pause the rollout again.
    await new Promise((resolve) => setTimeout(resolve, 2000));
    expect((await api('POST', `/v1/rollouts/${rolloutC}/resume`)).status).toBe(200);
    const done = await waitForStatus(rolloutC, 'completed', 60_000);
    expect(done.counts).toMatchObject({ succeeded: 40, failed: 0 });
    // Deleting an account is refused only while a rollout of it is open; C's is done.
    expect((await api('DELETE', `/v1/accounts/${ACCOUNT_C}`)).status).toBe(204);
  }, 180_000);

  it('leaves no secret in any log line, table, Redis key or API answer of the run', async () => {
    // Read everything there is once more, so the answers scanned include every account and rollout view.
    await api('GET', '/v1/accounts');
    await api('GET', `/v1/audit?limit=1000`);
    // Every process's output, the simulator's too (it knows the secrets, and masks them like the product does).
    const logs = processes.map((p) => p.output()).join('\n');
    expect(logs.length).toBeGreaterThan(1000);

    // A dump of every table: each row as JSON text (what pg_dump would write, column for column).
    const tables = await db.prisma.$queryRaw<{ table_name: string }[]>`
      SELECT table_name::text AS table_name FROM information_schema.tables
      WHERE table_schema = 'public' AND table_type = 'BASE TABLE'`;
    let dump = '';
    for (const { table_name } of tables) {
      const rows = await db.pool.query(`SELECT row_to_json(t)::text AS row FROM "${table_name}" t`);
      dump += rows.rows.map((r: { row: string }) => r.row).join('\n');
    }
    expect(dump).toContain('fsv1.');

    const redis = new Redis(testRedisUrl());
    let redisText = '';
    try {
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
        cursor = next;
        for (const key of keys) redisText += `${key} ${await redisValueText(redis, key)}\n`;
      } while (cursor !== '0');
    } finally {
      await redis.quit();
    }
    expect(redisText.length).toBeGreaterThan(0);

    const everything = { logs, dump, redis: redisText, answers: answers.join('\n') };
    for (const secret of SECRETS)
      for (const [where, text] of Object.entries(everything))
        expect(text.includes(secret), `${where} holds a secret`).toBe(false);
  });
});
