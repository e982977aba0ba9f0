/**
 * How an admin's browser is let into `/admin/*` (the queue board). A browser that follows a link cannot send
 * `Authorization`, and a key must never travel in a URL (URLs are logged, kept in history, sent as Referer). So:
 *
 *   POST /admin/session   the admin key in `Authorization: Bearer` (scripts) or in a form field `key` (the sign-in
 *                         page at GET /admin/session): answers with a session cookie
 *   /admin/...            accepts that cookie, or `Authorization: Bearer` directly (curl, tests)
 *   DELETE /admin/session ends the session
 *
 * The cookie is a random token unrelated to the key (`fas_` + 32 random bytes), HttpOnly (no script reads it),
 * SameSite=Strict (no other site's page can make the browser send it: the CSRF defence), Path=/admin, and Secure
 * when the request came over HTTPS. Redis holds only its SHA-256, under adminSessionKey of @fleet/queue, with the id
 * of the key that opened it and a TTL of ADMIN_SESSION_TTL_MS (absolute, not renewed by use), so a session works on
 * every API process of the deployment. Every request re-reads that key from Postgres: revoking the key, or its no
 * longer being an admin key, ends its sessions at once.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Request, RequestHandler, Response } from 'express';
import type { RedisClient } from '@fleet/queue';
import { ApiError } from '@fleet/errors';
import type { Database } from '@fleet/db';
import { findApiKey } from '@fleet/db';
import type { Logger } from '@fleet/logger';
import { adminSessionKey } from '@fleet/queue';
import type { ApiPrincipal } from './auth.ts';
import { principalFromBearer, principalOf, requireRole } from './auth.ts';

/** How long a session lasts from its sign-in, in ms: 15 minutes. */
export const ADMIN_SESSION_TTL_MS = 15 * 60_000;
const ADMIN_SESSION_COOKIE = 'fleet_admin_session';
const SESSION_TOKEN = /^fas_[A-Za-z0-9_-]{43}$/;

export type AdminSessionDeps = { db: Database; redis: RedisClient; logger: Logger; queuePrefix: string };

function sessionHash(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** The value of cookie `name` in the request's Cookie header (RFC 6265 `name=value; name2=value2`). */
function cookieValue(req: Request, name: string): string | undefined {
  for (const pair of (req.get('cookie') ?? '').split(';')) {
    const at = pair.indexOf('=');
    if (at > 0 && pair.slice(0, at).trim() === name) return pair.slice(at + 1).trim();
  }
  return undefined;
}

function isHttps(req: Request): boolean {
  // Only ever adds `Secure`, so believing a proxy's header here cannot weaken anything.
  return req.secure || req.get('x-forwarded-proto') === 'https';
}

function sessionCookie(req: Request, token: string, maxAgeSeconds: number): string {
  const attributes = [`Path=/admin`, 'HttpOnly', 'SameSite=Strict', `Max-Age=${maxAgeSeconds}`];
  if (isHttps(req)) attributes.push('Secure');
  return [`${ADMIN_SESSION_COOKIE}=${token}`, ...attributes].join('; ');
}

function notSignedIn(): ApiError {
  return new ApiError(
    401,
    'unauthenticated',
    'Unauthorized',
    'An admin API key is required: sign in at /admin/session, or send Authorization: Bearer <key>',
  );
}

/** Opens a session for an admin principal: stores its hash and sets the cookie. */
export async function openAdminSession(
  deps: AdminSessionDeps,
  req: Request,
  res: Response,
  principal: ApiPrincipal,
): Promise<void> {
  const token = `fas_${randomBytes(32).toString('base64url')}`;
  await deps.redis.set(
    adminSessionKey(deps.queuePrefix, sessionHash(token)),
    principal.keyId,
    'PX',
    ADMIN_SESSION_TTL_MS,
  );
  res.setHeader('Set-Cookie', sessionCookie(req, token, ADMIN_SESSION_TTL_MS / 1000));
  deps.logger.info('admin session opened', { keyPrefix: principal.keyPrefix });
}

/** Ends the request's session, if it has one, and clears the cookie. */
export async function closeAdminSession(deps: AdminSessionDeps, req: Request, res: Response): Promise<void> {
  const token = cookieValue(req, ADMIN_SESSION_COOKIE);
  if (token && SESSION_TOKEN.test(token)) await deps.redis.del(adminSessionKey(deps.queuePrefix, sessionHash(token)));
  res.setHeader('Set-Cookie', sessionCookie(req, '', 0));
}

async function principalFromSession(deps: AdminSessionDeps, token: string): Promise<ApiPrincipal | null> {
  if (!SESSION_TOKEN.test(token)) return null;
  const keyId = await deps.redis.get(adminSessionKey(deps.queuePrefix, sessionHash(token)));
  if (!keyId) return null;
  const record = await findApiKey(deps.db, keyId);
  return record && !record.revokedAt ? principalOf(record) : null;
}

/**
 * For `/admin/*`: sets `req.auth` from the Bearer key or else the session cookie, and requires the admin role
 * (401 without a usable credential, 403 for a viewer or operator key).
 */
export function authenticateAdmin(deps: AdminSessionDeps): RequestHandler {
  return async (req, res, next) => {
    if (req.get('authorization') !== undefined) {
      req.auth = (await principalFromBearer(deps, req, res)).principal;
    } else {
      const token = cookieValue(req, ADMIN_SESSION_COOKIE);
      const principal = token === undefined ? null : await principalFromSession(deps, token);
      if (!principal) throw notSignedIn();
      req.auth = principal;
    }
    requireRole(req, 'admin');
    next();
  };
}
