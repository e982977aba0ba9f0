import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey, createDatabase, findActiveApiKeyByHash, hashApiKey } from '@fleet/db';
import type { Database } from '@fleet/db';
import { createTestDatabase } from '@fleet/testing';
import type { TestDatabase } from '@fleet/testing';
import { ensureAdminKeyFile } from '../src/admin-key-file.ts';

let testDb: TestDatabase;
let db: Database;
let dir: string;

beforeAll(async () => {
  testDb = await createTestDatabase();
  db = createDatabase({ url: testDb.url, poolMax: 2 });
  dir = await mkdtemp(path.join(tmpdir(), 'fleet-key-'));
});

afterAll(async () => {
  await db.close();
  await testDb.drop();
  await rm(dir, { recursive: true, force: true });
});

const readKey = async (file: string) => (await readFile(file, 'utf8')).trim();

describe('ensureAdminKeyFile', () => {
  it('makes an admin key for every account when the file is missing, in a 0600 file of a new 0700 directory', async () => {
    const file = path.join(dir, 'new', 'nested', 'admin-key');
    const result = await ensureAdminKeyFile(db, file);
    const key = await readKey(file);
    expect(result).toMatchObject({ outcome: 'created', file, keyPrefix: key.slice(0, 12) });
    expect(await findActiveApiKeyByHash(db, hashApiKey(key))).toMatchObject({
      role: 'admin',
      allAccounts: true,
      userIds: [],
    });
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect((await stat(path.dirname(file))).mode & 0o777).toBe(0o700);
  });

  it('reuses a valid key, narrowing a file others could read to 0600', async () => {
    const file = path.join(dir, 'reused');
    await ensureAdminKeyFile(db, file);
    const key = await readKey(file);
    await chmod(file, 0o644);
    expect(await ensureAdminKeyFile(db, file)).toMatchObject({ outcome: 'reused', narrowedMode: true });
    expect(await readKey(file)).toBe(key);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
  });

  it('replaces a key the database does not know, and a working key that is not an admin key for every account', async () => {
    const unknown = path.join(dir, 'unknown');
    await writeFile(unknown, 'flt_not-a-key-anyone-made\n', { mode: 0o600 });
    expect((await ensureAdminKeyFile(db, unknown)).outcome).toBe('created');
    expect(await readKey(unknown)).not.toBe('flt_not-a-key-anyone-made');

    const viewer = path.join(dir, 'viewer');
    const { key } = await createApiKey(db, {
      name: 'a viewer',
      role: 'viewer',
      userIds: [],
      allAccounts: true,
      createdById: null,
    });
    await writeFile(viewer, `${key}\n`, { mode: 0o600 });
    expect((await ensureAdminKeyFile(db, viewer)).outcome).toBe('created');
    expect(await readKey(viewer)).not.toBe(key);
  });
});
