import { createHash } from 'node:crypto';
import { FleetError } from '@fleet/errors';

/** AES-256 wants exactly 32 bytes of key. */
export const ENCRYPTION_KEY_BYTES = 32;

/** A data-encryption key and the id sealed values carry to say which key sealed them. */
export type EncryptionKey = { readonly id: string; readonly bytes: Buffer };

/** A configured encryption key is not 32 bytes in base64; the message says what was wrong, never the key. */
export class EncryptionKeyError extends FleetError {
  override name = 'EncryptionKeyError';
  constructor(message: string) {
    super('encryption_key_invalid', message);
  }
}

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/**
 * The key from its base64 text (`openssl rand -base64 32`). Its id is a fingerprint (the first 6 bytes of SHA-256 of
 * the key, in hex, after a `k`): enough to tell a handful of keys apart, nothing to learn the key from.
 */
export function parseEncryptionKey(base64: string): EncryptionKey {
  const text = base64.trim();
  if (!BASE64.test(text)) throw new EncryptionKeyError('expected 32 random bytes in base64 (openssl rand -base64 32)');
  const bytes = Buffer.from(text, 'base64');
  if (bytes.length !== ENCRYPTION_KEY_BYTES) {
    throw new EncryptionKeyError(
      `expected 32 random bytes in base64 (openssl rand -base64 32); got ${bytes.length} bytes`,
    );
  }
  return Object.freeze({ id: keyIdOf(bytes), bytes });
}

export function keyIdOf(bytes: Buffer): string {
  return `k${createHash('sha256').update(bytes).digest('hex').slice(0, 12)}`;
}
