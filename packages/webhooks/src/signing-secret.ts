import { randomBytes } from 'node:crypto';

/**
 * Standard Webhooks signing secrets: `whsec_` + base64 of 24 to 64 random bytes. The HMAC key is the decoded bytes,
 * not the text, so every receiver library (standardwebhooks, svix) reads the same key from it.
 */
export const SIGNING_SECRET_PREFIX = 'whsec_';

/** Bytes of a secret this package makes: 32 (inside the specification's 24..64). */
const SECRET_BYTES = 32;

/** A fresh signing secret, shown to the operator once. */
export function generateSigningSecret(): string {
  return `${SIGNING_SECRET_PREFIX}${randomBytes(SECRET_BYTES).toString('base64')}`;
}

/** The HMAC key of a `whsec_` secret: its base64 part decoded. */
export function signingKeyOf(secret: string): Buffer {
  const encoded = secret.startsWith(SIGNING_SECRET_PREFIX) ? secret.slice(SIGNING_SECRET_PREFIX.length) : secret;
  return Buffer.from(encoded, 'base64');
}
