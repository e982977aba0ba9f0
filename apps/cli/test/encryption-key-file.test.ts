import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseEncryptionKey } from '@fleet/secrets';
import { ensureEncryptionKeyFile } from '../src/encryption-key-file.ts';

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'fleet-encryption-key-'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const readKey = async (file: string) => (await readFile(file, 'utf8')).trim();

describe('ensureEncryptionKeyFile', () => {
  it('makes 32 random bytes in base64 when the file is missing, in a 0600 file of a new 0700 directory', async () => {
    const file = path.join(dir, 'new', 'nested', 'encryption-key');
    const result = await ensureEncryptionKeyFile(file);
    const key = await readKey(file);
    expect(result).toEqual({ outcome: 'created', file, key, narrowedMode: false });
    expect(key).toMatch(/^[A-Za-z0-9+/]{43}=$/);
    expect(Buffer.from(key, 'base64')).toHaveLength(32);
    // What the apps' secret box takes.
    expect(parseEncryptionKey(key).bytes).toHaveLength(32);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect((await stat(path.dirname(file))).mode & 0o777).toBe(0o700);
  });

  it('reuses the key on the next start, narrowing a file others could read to 0600', async () => {
    const file = path.join(dir, 'reused');
    const first = await ensureEncryptionKeyFile(file);
    expect(first.outcome).toBe('created');
    await chmod(file, 0o644);
    const second = await ensureEncryptionKeyFile(file);
    expect(second).toEqual({
      outcome: 'reused',
      file,
      key: first.outcome === 'created' ? first.key : 'unreachable',
      narrowedMode: true,
    });
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect(await ensureEncryptionKeyFile(file)).toMatchObject({ outcome: 'reused', narrowedMode: false });
  });

  it('makes two different keys for two files', async () => {
    const one = await ensureEncryptionKeyFile(path.join(dir, 'one'));
    const two = await ensureEncryptionKeyFile(path.join(dir, 'two'));
    expect(one.outcome === 'created' && two.outcome === 'created' && one.key !== two.key).toBe(true);
  });

  it('leaves a file that holds no key as it is and says why, without echoing its content', async () => {
    const file = path.join(dir, 'mistyped');
    const content = 'not-a-key-at-all\n';
    await writeFile(file, content, { mode: 0o600 });
    const result = await ensureEncryptionKeyFile(file);
    expect(result).toEqual({
      outcome: 'unusable',
      file,
      message: 'expected 32 random bytes in base64, as `openssl rand -base64 32` prints',
    });
    expect(JSON.stringify(result)).not.toContain('not-a-key-at-all');
    expect(await readFile(file, 'utf8')).toBe(content);

    const short = path.join(dir, 'short');
    await writeFile(short, `${Buffer.alloc(16, 7).toString('base64')}\n`, { mode: 0o600 });
    expect(await ensureEncryptionKeyFile(short)).toMatchObject({
      outcome: 'unusable',
      message: expect.stringContaining('got 16 bytes'),
    });
  });
});
