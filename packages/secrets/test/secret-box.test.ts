import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { parseConfig, encryptionEnv, z } from '@fleet/config';
import { createSecretBox, parseEncryptionKey, secretBoxFromConfig, SecretUnreadableError } from '../src/index.ts';

const newKey = () => parseEncryptionKey(randomBytes(32).toString('base64'));
const CONTEXT = 'account:1234567890:accessKeySecret';

describe('secret box', () => {
  it('opens what it sealed, and the sealed text holds neither the plaintext nor the key', () => {
    const key = newKey();
    const box = createSecretBox({ current: key });
    const secret = 'AccessKeySecret-ñ-密钥-0123456789';
    const sealed = box.seal(secret, CONTEXT);
    expect(box.open(sealed, CONTEXT)).toBe(secret);
    expect(sealed).not.toContain(secret);
    expect(sealed).not.toContain(Buffer.from(secret).toString('base64url'));
    expect(sealed).not.toContain(key.bytes.toString('base64'));
    expect(sealed.startsWith(`fsv1.${key.id}.`)).toBe(true);
    expect(box.keyIdOf(sealed)).toBe(key.id);
  });

  it('seals the same plaintext differently every time (a fresh IV per value)', () => {
    const box = createSecretBox({ current: newKey() });
    const sealed = new Set(Array.from({ length: 50 }, () => box.seal('same', CONTEXT)));
    expect(sealed.size).toBe(50);
  });

  it('refuses a value moved to another place (the context is authenticated)', () => {
    const box = createSecretBox({ current: newKey() });
    const sealed = box.seal('s3cret', CONTEXT);
    expect(() => box.open(sealed, 'account:999:accessKeySecret')).toThrow(SecretUnreadableError);
  });

  it('refuses an altered value, whichever part was changed', () => {
    const box = createSecretBox({ current: newKey() });
    const sealed = box.seal('s3cret-value', CONTEXT);
    const parts = sealed.split('.');
    for (const index of [2, 3, 4]) {
      const altered = [...parts];
      const bytes = Buffer.from(altered[index]!, 'base64url');
      bytes[0] = bytes[0]! ^ 1;
      altered[index] = bytes.toString('base64url');
      expect(() => box.open(altered.join('.'), CONTEXT), `part ${index}`).toThrow(SecretUnreadableError);
    }
    expect(() => box.open('plain text', CONTEXT)).toThrow(/not a sealed value/);
  });

  it('opens values of a previous key, seals only with the current one, and tells which need re-sealing', () => {
    const old = newKey();
    const current = newKey();
    const sealedOld = createSecretBox({ current: old }).seal('rotating', CONTEXT);
    const box = createSecretBox({ current, previous: [old] });
    expect(box.open(sealedOld, CONTEXT)).toBe('rotating');
    expect(box.isCurrent(sealedOld)).toBe(false);
    const resealed = box.seal(box.open(sealedOld, CONTEXT), CONTEXT);
    expect(box.isCurrent(resealed)).toBe(true);
    expect(box.keyIds).toEqual([current.id, old.id]);
    const withoutOld = createSecretBox({ current });
    expect(() => withoutOld.open(sealedOld, CONTEXT)).toThrow(new RegExp(`key ${old.id}`));
  });

  it('reads keys as openssl rand -base64 32 prints them, and refuses anything else without echoing it', () => {
    const printed = execFileSync('openssl', ['rand', '-base64', '32'], { encoding: 'utf8' });
    expect(parseEncryptionKey(printed).bytes).toHaveLength(32);
    const short = randomBytes(16).toString('base64');
    expect(() => parseEncryptionKey(short)).toThrow(/got 16 bytes/);
    try {
      parseEncryptionKey('not base64 at all!');
      expect.unreachable();
    } catch (error) {
      expect((error as Error).message).not.toContain('not base64 at all');
      expect(error).toMatchObject({ code: 'encryption_key_invalid' });
    }
  });
});

describe('keys from the environment', () => {
  const schema = z.object(encryptionEnv);

  it('builds no box without FLEET_ENCRYPTION_KEY, and one that opens previous keys with it', () => {
    expect(secretBoxFromConfig(parseConfig(schema, {}))).toBeUndefined();
    const old = randomBytes(32).toString('base64');
    const current = randomBytes(32).toString('base64');
    const oldBox = secretBoxFromConfig(parseConfig(schema, { FLEET_ENCRYPTION_KEY: old }))!;
    const sealed = oldBox.seal('x-secret', CONTEXT);
    const box = secretBoxFromConfig(
      parseConfig(schema, { FLEET_ENCRYPTION_KEY: current, FLEET_ENCRYPTION_PREVIOUS_KEYS: ` ${old} ,` }),
    )!;
    expect(box.open(sealed, CONTEXT)).toBe('x-secret');
    expect(box.currentKeyId).not.toBe(oldBox.currentKeyId);
  });

  it('names the variable and shows only the length of a bad key', () => {
    const bad = randomBytes(31).toString('base64');
    expect(() => parseConfig(schema, { FLEET_ENCRYPTION_KEY: bad })).toThrow(
      expect.objectContaining({
        variable: 'FLEET_ENCRYPTION_KEY',
        shownValue: `(${bad.length} characters, not shown)`,
        expected: expect.stringMatching(/32 random bytes in base64.*got 31 bytes/),
      }),
    );
    expect(() =>
      parseConfig(schema, {
        FLEET_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
        FLEET_ENCRYPTION_PREVIOUS_KEYS: `${randomBytes(32).toString('base64')},nope`,
      }),
    ).toThrow(
      expect.objectContaining({
        variable: 'FLEET_ENCRYPTION_PREVIOUS_KEYS',
        expected: expect.stringMatching(/key 2 of the list/),
      }),
    );
  });
});
