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
      { path: 'Idempotency-Key', message: 'must be 1 to 255 visible ASCII characters' },
    ]);
  }
  return value;
}

/** JSON with object keys sorted, so two bodies that differ only in key order are the same request. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** What an Idempotency-Key is bound to: SHA-256 of method, path and canonical body. */
export function requestFingerprint(method: string, path: string, body: unknown): string {
  return createHash('sha256').update(`${method} ${path}\n${canonicalJson(body)}`).digest('hex');
}
