import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { accountSecretContext, createAccount, createDatabase, findAccountCalling } from '@fleet/db';
import type { Database } from '@fleet/db';
import { createSecretBox, parseEncryptionKey } from '@fleet/secrets';
import { createTestDatabase, spawnApp } from '@fleet/testing';
import type { TestDatabase } from '@fleet/testing';

const OLD = randomBytes(32).toString('base64');
const NEW = randomBytes(32).toString('base64');
const USER_ID = '7000000000000001';

let testDb: TestDatabase;
let db: Database;
let dir: string;
/** No key file: the key of a checkout's own .fleet/encryption-key must not reach these runs. */
let noKeyFile: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'fleet-rotate-'));
  noKeyFile = path.join(dir, 'absent', 'encryption-key');
  testDb = await createTestDatabase();
  db = createDatabase({ url: testDb.url, poolMax: 2 });
  const oldBox = createSecretBox({ current: parseEncryptionKey(OLD) });
  await createAccount(db, {
    userId: USER_ID,
    name: 'rotated',
    endpoint: null,
    rateLimitRps: null,
    rateBurst: null,
    credentials: {
      accessKeyId: 'LTAIrotatecli01',
      accessKeySecret: oldBox.seal('cli-rotate-secret-Hq28', accountSecretContext(USER_ID)),
      securityToken: null,
    },
    createdByKeyId: null,
  });
});
afterAll(async () => {
  await db.close();
  await testDb.drop();
  await rm(dir, { recursive: true, force: true });
});

const run = async (env: Record<string, string>, args: string[] = []) => {
  const cli = spawnApp(
    'cli',
    { DATABASE_URL: testDb.url, FLEET_ENCRYPTION_KEY_FILE: noKeyFile, ...env },
    { args: ['rotate-encryption-key', ...args] },
  );
  return { code: await cli.closed, stdout: cli.stdout(), stderr: cli.stderr() };
};

describe('npm run rotate-encryption-key', () => {
  it('exits 78 without FLEET_ENCRYPTION_KEY, and 2 on a bad argument', async () => {
    const noKey = await run({ FLEET_ENCRYPTION_KEY: '' });
    expect(noKey.code).toBe(78);
    expect(noKey.stderr).toContain('FLEET_ENCRYPTION_KEY is not set and');
    expect(noKey.stderr).toContain('FLEET_ENCRYPTION_KEY_FILE');
    expect((await run({ FLEET_ENCRYPTION_KEY: NEW }, ['--batch-size', 'x'])).code).toBe(2);
  });

  it('exits 1 naming the key when a value opens under none of the keys, and re-seals everything once the old key is given', async () => {
    const missing = await run({ FLEET_ENCRYPTION_KEY: NEW });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('FLEET_ENCRYPTION_PREVIOUS_KEYS');

    const done = await run({ FLEET_ENCRYPTION_KEY: NEW, FLEET_ENCRYPTION_PREVIOUS_KEYS: OLD }, ['--output', 'json']);
    expect(done.code).toBe(0);
    const report = JSON.parse(done.stdout.trim().split('\n').pop()!);
    expect(report.columns).toContainEqual(expect.objectContaining({ column: 'access_key_secret', resealed: 1 }));
    const newBox = createSecretBox({ current: parseEncryptionKey(NEW) });
    const stored = (await findAccountCalling(db, USER_ID))!.credentials!;
    expect(newBox.open(stored.accessKeySecret, accountSecretContext(USER_ID))).toBe('cli-rotate-secret-Hq28');
    // Quiet on success without --output json; nothing left to re-seal.
    const again = await run({ FLEET_ENCRYPTION_KEY: NEW });
    expect(again).toMatchObject({ code: 0, stdout: '' });
    expect(`${missing.stderr}${done.stdout}${again.stderr}`).not.toContain('cli-rotate-secret-Hq28');
  });

  it('without FLEET_ENCRYPTION_KEY, seals under the key of the encryption key file `fleet up` hands the apps', async () => {
    const fileKey = randomBytes(32).toString('base64');
    const userId = '7000000000000002';
    await createAccount(db, {
      userId,
      name: 'rotated from the file',
      endpoint: null,
      rateLimitRps: null,
      rateBurst: null,
      credentials: {
        accessKeyId: 'LTAIrotatecli02',
        accessKeySecret: createSecretBox({ current: parseEncryptionKey(OLD) }).seal(
          'cli-file-secret-Zp41',
          accountSecretContext(userId),
        ),
        securityToken: null,
      },
      createdByKeyId: null,
    });
    const keyFile = path.join(dir, 'encryption-key');
    await writeFile(keyFile, `${fileKey}\n`, { mode: 0o600 });
    const done = await run(
      { FLEET_ENCRYPTION_KEY: '', FLEET_ENCRYPTION_KEY_FILE: keyFile, FLEET_ENCRYPTION_PREVIOUS_KEYS: `${OLD},${NEW}` },
      ['--output', 'json'],
    );
    expect(done.code).toBe(0);
    const fileBox = createSecretBox({ current: parseEncryptionKey(fileKey) });
    expect(JSON.parse(done.stdout.trim().split('\n').pop()!).keyId).toBe(fileBox.currentKeyId);
    const stored = (await findAccountCalling(db, userId))!.credentials!;
    expect(fileBox.open(stored.accessKeySecret, accountSecretContext(userId))).toBe('cli-file-secret-Zp41');

    await writeFile(keyFile, 'not a key\n');
    const unusable = await run({ FLEET_ENCRYPTION_KEY: '', FLEET_ENCRYPTION_KEY_FILE: keyFile });
    expect(unusable.code).toBe(78);
    expect(unusable.stderr).toContain(`${keyFile} holds no encryption key`);
    expect(unusable.stderr).not.toContain('not a key');
  });
});
