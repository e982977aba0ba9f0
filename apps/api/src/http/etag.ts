import { createHash } from 'node:crypto';
import type { Request, Response } from 'express';
import { z } from 'zod';

/**
 * Conditional GETs for what pollers read (a rollout's status, its failure report): `ETag` on the answer, and `304 Not
 * Modified` with no body when the request's `If-None-Match` names it.
 *
 * The validator is strong: a hash of the exact JSON sent, so it changes when, and only when, something visible in the
 * body changes, whatever changed it (an instance, the rollout, a flag, the limits in force) and with nothing to keep
 * in step. It costs building the body, which is a few indexed rows (state, verification and per-cause counts, the
 * last minute's finish counts): what a 304 saves is the serialised body on the wire and the client's parsing.
 * Fields that depend on the time (progress rate, ETA) are computed as of the current whole second (requestSecond),
 * so two polls within a second of a rollout that did not move get the same body and a 304; a rollout that is running
 * changes every second anyway, its ETA included.
 *
 * The report also says when it was made (`generatedAt`), which differs every second even when nothing else does: its
 * validator is weak (`W/"..."`, RFC 9110 8.8.1), a hash of everything but that field, so a report of a rollout that
 * stands still (finished, paused) answers 304 for as long as it does, and a client keeps the copy it has. See
 * docs/api.md, "Conditional requests".
 */

/** The current time truncated to the whole second: the `now` of every time-dependent field of a validated body. */
export function requestSecond(nowMs: number = Date.now()): Date {
  return new Date(Math.floor(nowMs / 1000) * 1000);
}

/** Strong entity tag of a JSON text: 128 bits of its SHA-256, base64url. */
function etagOf(json: string): string {
  return `"${createHash('sha256').update(json).digest('base64url').slice(0, 22)}"`;
}

/**
 * RFC 9110 13.1.2: does If-None-Match name `etag`? `*` names any current representation; otherwise a comma-separated
 * list of entity tags, compared weakly (a `W/` prefix on either side is ignored). Evaluated here rather than with
 * Express's `req.fresh`, which answers "stale" to any request carrying `Cache-Control: no-cache`: that directive is
 * for caches on the way, and fetch() adds it to every request with If-None-Match (Fetch standard, HTTP-network-or-cache
 * fetch), so `req.fresh` would never let a fetch() poller have its 304.
 */
function ifNoneMatchNames(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  const opaque = etag.replace(/^W\//, '');
  for (const item of header.split(',')) {
    const tag = item.trim();
    if (tag === '*' || tag.replace(/^W\//, '') === opaque) return true;
  }
  return false;
}

/**
 * Sends `body` as JSON with its ETag, or 304 with no body when the request's If-None-Match names it (GET and HEAD
 * only, as RFC 9110 has it). `Cache-Control: private, no-cache`: a client may keep the answer but must ask again (with
 * If-None-Match) before using it, and no shared cache may keep it.
 */
export function sendJsonWithEtag(
  req: Request,
  res: Response,
  body: unknown,
  options: {
    /** A weak validator of this instead of a strong one of `body`: what two answers are equivalent by. */
    weakValidatorOf?: unknown;
  } = {},
): void {
  const json = JSON.stringify(body);
  const etag =
    options.weakValidatorOf === undefined ? etagOf(json) : `W/${etagOf(JSON.stringify(options.weakValidatorOf))}`;
  res.setHeader('ETag', etag);
  res.setHeader('Cache-Control', 'private, no-cache');
  if ((req.method === 'GET' || req.method === 'HEAD') && ifNoneMatchNames(req.get('if-none-match'), etag)) {
    res.status(304).end();
    return;
  }
  res.type('application/json').send(json);
}

/** The request header of a conditional GET, for the OpenAPI document (ApiOperation.headers). */
export const IF_NONE_MATCH_HEADER = {
  name: 'If-None-Match',
  description: 'ETags of answers the client holds (or `*`): 304 with no body when the current one is among them',
  schema: z.string(),
};

/** Response headers of a validated answer, for the OpenAPI document. */
export const ETAG_RESPONSE_HEADERS = {
  ETag: 'validator of the body: send it back as If-None-Match',
  'Cache-Control': '`private, no-cache`: keep it, but ask again with If-None-Match before using it',
};
