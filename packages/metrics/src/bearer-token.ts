import { createHash, timingSafeEqual } from 'node:crypto';

/**
 * Whether an `Authorization` header carries `Bearer <token>`, compared in constant time: both sides are hashed
 * first, so neither the token's characters nor its length can be learned from how long a refusal takes.
 */
export function hasBearerToken(header: string | undefined, token: string): boolean {
  const match = /^Bearer (.+)$/i.exec(header ?? '');
  const given = match?.[1] ?? '';
  const digest = (value: string) => createHash('sha256').update(value, 'utf8').digest();
  // Always compare, also when the header is missing, so that a missing header costs what a wrong one does.
  return timingSafeEqual(digest(given), digest(token)) && match !== null;
}
