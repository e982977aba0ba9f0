import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { FleetError } from '@fleet/errors';
import { EncryptionKeyError, type EncryptionKey } from './encryption-key.ts';

/**
 * Secrets at rest (AccessKey secrets, STS tokens, webhook signing secrets): AES-256-GCM with a fresh 96-bit IV per
 * value, the value's place (`context`, e.g. `account:<userId>:accessKeySecret`) bound as additional authenticated
 * data so a sealed value copied to another row or field does not open, and the sealing key's id in the text so older
 * keys keep opening what they sealed while `rotate-encryption-key` re-seals under the current one.
 *
 * The sealed text: `fsv1.<keyId>.<iv>.<ciphertext>.<tag>`, the last three in base64url. `fsv1` names this format so a
 * later one can be told apart.
 */
export type SecretBox = {
  /** The id of the key new values are sealed with. */
  readonly currentKeyId: string;
  /** Every key id this box can open, the current one first. */
  readonly keyIds: readonly string[];
  seal(plaintext: string, context: string): string;
  /** The plaintext; SecretUnreadableError when the key is unknown, the context differs or the text was altered. */
  open(sealed: string, context: string): string;
  /** The id of the key a sealed value names; SecretUnreadableError when the text is not a sealed value. */
  keyIdOf(sealed: string): string;
  /** Sealed under the current key: rotation leaves it alone. */
  isCurrent(sealed: string): boolean;
};

/** A sealed value cannot be opened. The message names the reason and the key id, never the plaintext. */
export class SecretUnreadableError extends FleetError {
  override name = 'SecretUnreadableError';
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('secret_unreadable', message, options);
  }
}

const FORMAT = 'fsv1';
const IV_BYTES = 12;
const TAG_BYTES = 16;

type SealedParts = { keyId: string; iv: Buffer; ciphertext: Buffer; tag: Buffer };

function parseSealed(sealed: string): SealedParts {
  const parts = sealed.split('.');
  if (parts.length !== 5 || parts[0] !== FORMAT) {
    throw new SecretUnreadableError(`not a sealed value (expected ${FORMAT}.<keyId>.<iv>.<ciphertext>.<tag>)`);
  }
  const [, keyId, iv, ciphertext, tag] = parts as [string, string, string, string, string];
  const decoded = {
    keyId,
    iv: Buffer.from(iv, 'base64url'),
    ciphertext: Buffer.from(ciphertext, 'base64url'),
    tag: Buffer.from(tag, 'base64url'),
  };
  if (decoded.iv.length !== IV_BYTES || decoded.tag.length !== TAG_BYTES) {
    throw new SecretUnreadableError(`sealed value under key ${keyId} is malformed`);
  }
  return decoded;
}

/**
 * A box sealing with `current` and opening with it or any of `previous` (keys being rotated away from). A key given
 * twice counts once.
 */
export function createSecretBox(keys: { current: EncryptionKey; previous?: readonly EncryptionKey[] }): SecretBox {
  const byId = new Map<string, EncryptionKey>();
  for (const key of [keys.current, ...(keys.previous ?? [])]) {
    if (!byId.has(key.id)) byId.set(key.id, key);
  }
  const current = keys.current;
  if (current.bytes.length !== 32) throw new EncryptionKeyError('an AES-256 key is 32 bytes');

  return Object.freeze({
    currentKeyId: current.id,
    keyIds: Object.freeze([...byId.keys()]),
    seal(plaintext: string, context: string): string {
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv('aes-256-gcm', current.bytes, iv, { authTagLength: TAG_BYTES });
      cipher.setAAD(Buffer.from(context, 'utf8'));
      const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
      const tag = cipher.getAuthTag();
      return [
        FORMAT,
        current.id,
        iv.toString('base64url'),
        ciphertext.toString('base64url'),
        tag.toString('base64url'),
      ].join('.');
    },
    open(sealed: string, context: string): string {
      const parts = parseSealed(sealed);
      const key = byId.get(parts.keyId);
      if (key === undefined) {
        throw new SecretUnreadableError(
          `sealed under key ${parts.keyId}, which is neither FLEET_ENCRYPTION_KEY nor one of FLEET_ENCRYPTION_PREVIOUS_KEYS`,
        );
      }
      try {
        const decipher = createDecipheriv('aes-256-gcm', key.bytes, parts.iv, { authTagLength: TAG_BYTES });
        decipher.setAAD(Buffer.from(context, 'utf8'));
        decipher.setAuthTag(parts.tag);
        return Buffer.concat([decipher.update(parts.ciphertext), decipher.final()]).toString('utf8');
      } catch (error) {
        throw new SecretUnreadableError(
          `sealed value under key ${parts.keyId} does not open for ${context} (altered, or sealed for another place)`,
          { cause: error },
        );
      }
    },
    keyIdOf(sealed: string): string {
      return parseSealed(sealed).keyId;
    },
    isCurrent(sealed: string): boolean {
      return parseSealed(sealed).keyId === current.id;
    },
  });
}
