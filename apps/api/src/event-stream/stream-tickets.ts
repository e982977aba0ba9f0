/**
 * Stream tickets: how a browser's EventSource, which cannot send an Authorization header, opens a rollout's event
 * stream without a long-lived API key in its URL (URLs end up in access logs, proxies and browser history).
 *
 *   POST /v1/rollouts/:id/events/stream-tickets   (Authorization: Bearer <key>)  ->  { ticket, expiresAt }
 *   GET  /v1/rollouts/:id/events/stream?ticket=<ticket>                          ->  the stream, as that key
 *
 * A ticket is 32 random bytes, valid for one use within TICKET_TTL_MS, for that rollout only. Redis holds its SHA-256
 * (never the ticket) with the API key's id and the rollout id, under a key that expires with it; redeeming it is one
 * GETDEL, so it works once across every API process. The key behind it is looked up again when it is used: a key
 * revoked in the meantime opens nothing. The API never logs a query string (access-log.ts logs the path only) and
 * leaves the ticket out of a problem's `instance`.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Request, RequestHandler } from 'express';
import type { RedisClient } from '@fleet/queue';
import { ApiError } from '@fleet/errors';
import type { Database } from '@fleet/db';
import { findApiKey } from '@fleet/db';
import type { Logger } from '@fleet/logger';
import { streamTicketKey } from '@fleet/queue';
import { principalOf } from '../http/auth.ts';

/** How long a ticket may wait for its one use, in ms (the default of `ttlMs`). */
export const TICKET_TTL_MS = 60_000;
/** Recognisable prefix (`fst_`: fleet stream ticket), then 32 random bytes in base64url. */
const TICKET = /^fst_[A-Za-z0-9_-]{43}$/;

type TicketDeps = { redis: RedisClient; queuePrefix: string };
type StoredTicket = { apiKeyId: string; rolloutId: string };

const hashTicket = (ticket: string) => createHash('sha256').update(ticket, 'utf8').digest('hex');

export async function issueStreamTicket(
  deps: TicketDeps,
  grant: StoredTicket,
  /** How long the ticket may wait for its use, in ms. Default TICKET_TTL_MS. */
  ttlMs: number = TICKET_TTL_MS,
): Promise<{ ticket: string; expiresAt: Date }> {
  const now = Date.now();
  const ticket = `fst_${randomBytes(32).toString('base64url')}`;
  const stored: StoredTicket = { apiKeyId: grant.apiKeyId, rolloutId: grant.rolloutId };
  await deps.redis.set(streamTicketKey(deps.queuePrefix, hashTicket(ticket)), JSON.stringify(stored), 'PX', ttlMs);
  return { ticket, expiresAt: new Date(now + ttlMs) };
}

/** The grant of a ticket, deleting it; null when it is unknown, expired or already used. */
async function redeemStreamTicket(deps: TicketDeps, ticket: string): Promise<StoredTicket | null> {
  const value = await deps.redis.getdel(streamTicketKey(deps.queuePrefix, hashTicket(ticket)));
  if (value === null) return null;
  const parsed = JSON.parse(value) as Partial<StoredTicket>;
  return typeof parsed.apiKeyId === 'string' && typeof parsed.rolloutId === 'string'
    ? { apiKeyId: parsed.apiKeyId, rolloutId: parsed.rolloutId }
    : null;
}

function badTicket(): ApiError {
  // One answer for malformed, unknown, expired, used, revoked and wrong-rollout tickets.
  return new ApiError(
    401,
    'unauthenticated',
    'Unauthorized',
    'The stream ticket is unknown, expired or already used; make a new one with POST /v1/rollouts/{id}/events/stream-tickets',
  );
}

/** The `ticket` query parameter of a request, if it has one. */
function ticketOf(req: Request): string | undefined {
  const value = (req.query as Record<string, unknown>).ticket;
  return typeof value === 'string' ? value : undefined;
}

/**
 * Mounted on `GET /v1/rollouts/:id/events/stream` ahead of `authenticate`: a request without an Authorization header
 * but with `?ticket=` is authenticated by the ticket (as the key that made it) and `authenticate` lets it through.
 * A request with a header is left to `authenticate`, ticket or not.
 */
export function streamTicketAuthentication(deps: TicketDeps & { db: Database; logger: Logger }): RequestHandler {
  return async (req, _res, next) => {
    const ticket = ticketOf(req);
    if (ticket === undefined || req.get('authorization') !== undefined) return next();
    const grant = TICKET.test(ticket) ? await redeemStreamTicket(deps, ticket) : null;
    const record = grant && grant.rolloutId === req.params.id ? await findApiKey(deps.db, grant.apiKeyId) : null;
    if (!record || record.revokedAt !== null) {
      deps.logger.warn('stream ticket refused', { path: req.path, reason: grant ? 'key or rollout' : 'unknown' });
      throw badTicket();
    }
    req.auth = principalOf(record);
    next();
  };
}
