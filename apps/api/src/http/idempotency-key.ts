import { createHash } from 'node:crypto';
import type { Request } from 'express';
import { z } from 'zod';
import { ValidationError } from '@fleet/errors';

/** 1 to 255 visible ASCII characters (no spaces, no control characters). */
const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;
export const idempotencyKeySchema = z.string().regex(IDEMPOTENCY_KEY);

/** The request's `Idempotency-Key`, undefined when absent; 400 when malformed. */
export function readIdempotencyKey(req: Request): string | undefined {
  const value = req.get('idempotency-key');
  if (value === undefined) return undefined;
  if (!idempotencyKeySchema.safeParse(value).success) {
    throw new ValidationError('Idempotency-Key is invalid: must be 1 to 255 visible ASCII characters', [
      { path: 'Idempotency-Key', message: 'must be 1 to 255 visible ASCII characters', in: 'header' },
    ]);
  }
  return value;
}

/** Writes `value` as JSON with object keys sorted (two bodies that differ only in key order are the same request), piece by piece. */
function writeCanonicalJson(value: unknown, write: (text: string) => void): void {
  if (Array.isArray(value)) {
    write('[');
    value.forEach((item, i) => {
      if (i > 0) write(',');
      writeCanonicalJson(item, write);
    });
    write(']');
    return;
  }
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    write('{');
    entries.forEach(([k, v], i) => {
      write(`${i > 0 ? ',' : ''}${JSON.stringify(k)}:`);
      writeCanonicalJson(v, write);
    });
    write('}');
    return;
  }
  write(JSON.stringify(value) ?? 'null');
}

/** Canonical JSON is hashed in pieces of about this many characters, not built whole (a body may hold 100,000 ids). */
const FINGERPRINT_PIECE_CHARS = 64 * 1024;

/**
 * What an Idempotency-Key is bound to: SHA-256 of method, path and canonical body. The canonical body goes into the
 * hash a piece at a time, so a large body costs no second copy of itself; the digest is the same as hashing
 * `${method} ${path}\n` and the whole canonical body at once (records stored before keep matching).
 */
export function requestFingerprint(method: string, path: string, body: unknown): string {
  const hash = createHash('sha256');
  let piece = `${method} ${path}\n`;
  writeCanonicalJson(body, (text) => {
    piece += text;
    if (piece.length >= FINGERPRINT_PIECE_CHARS) {
      hash.update(piece);
      piece = '';
    }
  });
  return hash.update(piece).digest('hex');
}
