/**
 * Authentication and tenancy: who is calling, what role they hold, and which accounts' objects they may see.
 *
 * Every `/v1` request goes through `authenticate` (mounted once on `/v1` in app.ts, so a route added later is
 * covered without doing anything). Routes then use the helpers below:
 *   requireRole(req, 'admin')            403 when the key's role is too low (a role says nothing about any object)
 *   assertAccountVisible(req, userId)    404 for an account outside the key: another tenant is indistinguishable
 *                                        from one that does not exist, so keys cannot probe for tenants
 *   loadVisibleRollout(deps, req, id)    the rollout, or 404 when it does not exist or belongs to another tenant
 *   visibleUserIds(req)                  the accounts to filter listings by (null: every account)
 *
 * Roles: viewer reads; operator also creates, pauses, resumes, cancels and retries rollouts and handles manual-install
 * flags; admin also manages API keys. `authenticate` already refuses writes (anything but GET/HEAD/OPTIONS, and the
 * POSTs of VIEWER_POSTS) to viewers; a route that needs admin says so with requireRole. The event stream may instead
 * be authenticated by a single-use ticket (event-stream/stream-tickets.ts), which names the caller before this runs.
 */
import { AsyncResource } from 'node:async_hooks';
import type { Request, RequestHandler, Response } from 'express';
import { ApiError, NotFoundError } from '@fleet/errors';
import type { ApiKeyRecord, ApiRole, Database, RolloutRecord } from '@fleet/db';
import { apiKeyShownPrefix, findActiveApiKeyByHash, findRollout, hashApiKey, touchApiKeyLastUsed } from '@fleet/db';
import type { Logger } from '@fleet/logger';
import { rolloutIdSchema } from '../rollout-schemas.ts';
import type { InputLocation } from './validate.ts';
import { parseOrThrow } from './validate.ts';
import type { ApiKeyCache } from './api-key-cache.ts';

/** The caller, once its key is known. */
export type ApiPrincipal = {
  keyId: string;
  /** Safe to log and show. */
  keyPrefix: string;
  keyName: string;
  role: ApiRole;
  /** True for a key that may act for every account. */
  allAccounts: boolean;
  /** Accounts the key may act for (ignored when allAccounts). */
  userIds: ReadonlySet<string>;
};

declare global {
  namespace Express {
    interface Request {
      /** Set by `authenticate` on every `/v1` request. */
      auth?: ApiPrincipal;
      /** The rollout a read (GET/HEAD) already loaded and found visible (see loadVisibleRollout). */
      visibleRollout?: RolloutRecord;
    }
  }
}

const ROLE_RANK: Record<ApiRole, number> = { viewer: 0, operator: 1, admin: 2 };

/** True when `have` includes everything `need` may do. */
function roleAtLeast(have: ApiRole, need: ApiRole): boolean {
  return ROLE_RANK[have] >= ROLE_RANK[need];
}

/** RFC 6750 `Authorization: Bearer <b64token>`; the scheme is case-insensitive. */
const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i;
const MAX_KEY_LENGTH = 512;
const READ_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
/**
 * POSTs that change nothing a viewer may not see, so a viewer may make them: a stream ticket only lets its own key
 * read a stream it could read anyway. Paths are relative to the `/v1` mount.
 */
const VIEWER_POSTS = [/^\/rollouts\/[^/]+\/events\/stream-tickets\/?$/];
/** A key's last use is written at most this often per process (and the write itself is guarded per row). */
const LAST_USED_EVERY_MS = 60_000;

function unauthenticated(res: Response, invalidToken: boolean): ApiError {
  res.setHeader(
    'WWW-Authenticate',
    invalidToken ? 'Bearer realm="fleet", error="invalid_token"' : 'Bearer realm="fleet"',
  );
  // One answer for missing, malformed, unknown and revoked keys: the caller learns nothing about which keys exist.
  return new ApiError(
    401,
    'unauthenticated',
    'Unauthorized',
    'A valid API key is required: Authorization: Bearer <key>',
  );
}

export function principalOf(record: ApiKeyRecord): ApiPrincipal {
  return {
    keyId: record.id,
    keyPrefix: record.keyPrefix,
    keyName: record.name,
    role: record.role,
    allAccounts: record.allAccounts,
    userIds: new Set(record.userIds),
  };
}

/**
 * The principal of the request's `Authorization: Bearer <key>`, with the key's record; throws 401 problem+json with
 * `WWW-Authenticate` when the header is missing, malformed, or names an unknown or revoked key. The key is looked up
 * by its SHA-256; it is never logged, only its first characters.
 */
/** What authenticating a key needs: the database, the logger and (optionally) this process's cache of found keys. */
export type AuthDeps = { db: Database; logger: Logger; apiKeyCache?: ApiKeyCache | undefined };

export async function principalFromBearer(
  deps: AuthDeps,
  req: Request,
  res: Response,
): Promise<{ principal: ApiPrincipal; record: ApiKeyRecord }> {
  const header = req.get('authorization');
  if (!header) {
    deps.logger.info('authentication failed', { reason: 'missing', method: req.method, path: req.path });
    throw unauthenticated(res, false);
  }
  const match = BEARER.exec(header);
  const key = match?.[1];
  if (!key || key.length > MAX_KEY_LENGTH) {
    deps.logger.warn('authentication failed', { reason: 'malformed', method: req.method, path: req.path });
    throw unauthenticated(res, true);
  }
  return principalFromApiKey(deps, req, res, key);
}

/** The principal of an API key presented some other way than the Authorization header (a sign-in form). */
export async function principalFromApiKey(
  deps: AuthDeps,
  req: Request,
  res: Response,
  key: string,
): Promise<{ principal: ApiPrincipal; record: ApiKeyRecord }> {
  const record = key.length > MAX_KEY_LENGTH ? null : await findActiveKey(deps, hashApiKey(key));
  if (!record) {
    deps.logger.warn('authentication failed', {
      reason: 'unknown or revoked key',
      keyPrefix: apiKeyShownPrefix(key),
      method: req.method,
      path: req.path,
    });
    throw unauthenticated(res, true);
  }
  return { principal: principalOf(record), record };
}

/** The active key with this hash: from the cache while its entry is fresh, else from Postgres (then cached). */
async function findActiveKey(deps: AuthDeps, keyHash: string): Promise<ApiKeyRecord | null> {
  const cached = deps.apiKeyCache?.get(keyHash);
  if (cached) return cached;
  const record = await findActiveApiKeyByHash(deps.db, keyHash);
  if (record) deps.apiKeyCache?.set(keyHash, record);
  return record;
}

/**
 * Resolves the Bearer key to a principal (principalFromBearer) and refuses writes to viewers (403).
 */
export function authenticate(deps: AuthDeps): RequestHandler {
  const lastTouched = new Map<string, number>();
  return async (req, res, next) => {
    // Already named by a stream ticket (event-stream/stream-tickets.ts, mounted before this on the stream route only).
    if (req.auth) return next();
    const { principal, record } = await principalFromBearer(deps, req, res);
    req.auth = principal;
    if (!READ_METHODS.has(req.method) && !VIEWER_POSTS.some((path) => path.test(req.path)))
      requireRole(req, 'operator');
    // A refused request writes nothing, not even the key's last use.
    res.on(
      'finish',
      AsyncResource.bind(() => {
        const now = Date.now();
        if (res.statusCode >= 400 || now - (lastTouched.get(record.id) ?? 0) < LAST_USED_EVERY_MS) return;
        lastTouched.set(record.id, now);
        touchApiKeyLastUsed(deps.db, record.id, new Date(now), LAST_USED_EVERY_MS).catch((error: unknown) =>
          deps.logger.debug('could not record api key use', { keyPrefix: record.keyPrefix, error }),
        );
      }),
    );
    next();
  };
}

/** The caller of a `/v1` request. Throws 401 if the route was mounted outside the authenticated tree by mistake. */
export function requireAuth(req: Request): ApiPrincipal {
  if (!req.auth)
    throw new ApiError(
      401,
      'unauthenticated',
      'Unauthorized',
      'A valid API key is required: Authorization: Bearer <key>',
    );
  return req.auth;
}

/** 403 when the caller's role is below `role`. Check it before looking anything up, so a 403 reveals nothing. */
export function requireRole(req: Request, role: ApiRole): ApiPrincipal {
  const principal = requireAuth(req);
  if (!roleAtLeast(principal.role, role)) {
    throw new ApiError(
      403,
      'forbidden',
      'Forbidden',
      `This operation needs the ${role} role; this API key has the ${principal.role} role`,
    );
  }
  return principal;
}

export function canSeeAccount(principal: ApiPrincipal, userId: string): boolean {
  return principal.allAccounts || principal.userIds.has(userId);
}

/**
 * 404 (not 403) for an account outside the caller's key, also when the account is named in a request body (create
 * a rollout, make a key): "not found" whether the account exists or not, so tenants cannot be discovered.
 */
export function assertAccountVisible(req: Request, userId: string): void {
  if (!canSeeAccount(requireAuth(req), userId)) throw new NotFoundError(`account ${userId}`);
}

/** Accounts whose objects the caller may list: null means every account. */
export function visibleUserIds(req: Request): readonly string[] | null {
  const principal = requireAuth(req);
  return principal.allAccounts ? null : [...principal.userIds];
}

/**
 * The rollout `id` names (400 if `id` is not a rollout id), or 404 when there is none or it belongs to an account
 * outside the caller's key; both 404s are the same answer. Every route that takes a rollout id uses this. `from`
 * says where the id came from, for the 400 (default: the path parameter `id`, as in `/v1/rollouts/:id`).
 */
export async function loadVisibleRollout(
  deps: { db: Database },
  req: Request,
  id: unknown,
  from: InputLocation = { in: 'path', name: 'id' },
): Promise<RolloutRecord> {
  const rolloutId = parseOrThrow(rolloutIdSchema, id, 'rollout id', from);
  // A read loads its rollout once, not once in rolloutTenancyGuard and again in the route: pollers make most requests.
  // Only reads: a write may change the rollout between two loads and must see it as it is then.
  if (req.visibleRollout?.id === rolloutId) return req.visibleRollout;
  const rollout = await findRollout(deps.db, rolloutId);
  if (!rollout || !canSeeAccount(requireAuth(req), rollout.userId)) throw new NotFoundError(`rollout ${rolloutId}`);
  if (READ_METHODS.has(req.method)) req.visibleRollout = rollout;
  return rollout;
}

/**
 * Mounted on `/v1/rollouts/:id`: a request about another tenant's rollout stops here with 404, whatever route it
 * was meant for, before that route validates its body or query. Defence in depth for routes added later; each
 * route still loads the rollout with loadVisibleRollout. Ids that are not UUIDs are left to the routes.
 */
export function rolloutTenancyGuard(deps: { db: Database }): RequestHandler {
  return async (req, _res, next) => {
    const id = req.params.id;
    if (typeof id === 'string' && rolloutIdSchema.safeParse(id).success) await loadVisibleRollout(deps, req, id);
    next();
  };
}
