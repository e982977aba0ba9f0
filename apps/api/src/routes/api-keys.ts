import { Router } from 'express';
import type { Request } from 'express';
import { z } from 'zod';
import { ApiError, NotFoundError, ValidationError } from '@fleet/errors';
import type { ApiKeyRecord, Database } from '@fleet/db';
import { createApiKey, findApiKey, listApiKeys, revokeApiKey } from '@fleet/db';
import type { Logger } from '@fleet/logger';
import type { ApiKeyCache } from '../http/api-key-cache.ts';
import type { ApiPrincipal } from '../http/auth.ts';
import { assertAccountVisible, requireRole } from '../http/auth.ts';
import { eventSourceOf } from '../http/event-source.ts';
import { unsupportedMediaType } from '../http/json-guard.ts';
import { parseOrThrow, parsePathParam } from '../http/validate.ts';
import type { ApiOperation } from '../openapi.ts';
import { apiKeyIdSchema, createApiKeySchema, listApiKeysQuerySchema } from '../api-key-schemas.ts';
import { apiKeyListSchema, apiKeySchema, createdApiKeySchema } from '../response-schemas.ts';

/** The API shape of a key: never its hash, and the key itself only in the answer that made it. */
function apiKeyView(key: ApiKeyRecord) {
  return {
    id: key.id,
    name: key.name,
    keyPrefix: key.keyPrefix,
    role: key.role,
    userIds: key.userIds,
    allAccounts: key.allAccounts,
    createdAt: key.createdAt.toISOString(),
    createdById: key.createdById,
    revokedAt: key.revokedAt?.toISOString() ?? null,
    lastUsedAt: key.lastUsedAt?.toISOString() ?? null,
  };
}

/**
 * Whether `admin` may manage `key`: an admin for every account manages every key; an admin for some accounts
 * manages the keys bound only to accounts among its own (the keys it could have made).
 */
function canManage(admin: ApiPrincipal, key: ApiKeyRecord): boolean {
  if (admin.allAccounts) return true;
  return !key.allAccounts && key.userIds.length > 0 && key.userIds.every((u) => admin.userIds.has(u));
}

const API_KEYS_PATH = '/v1/api-keys';

/** Key management, for admins. Keys are never changed, only made and revoked. */
export function apiKeyRoutes(deps: { db: Database; logger: Logger; apiKeyCache?: ApiKeyCache }): Router {
  const router = Router();

  const loadManageableKey = async (req: Request, admin: ApiPrincipal) => {
    const id = parsePathParam(apiKeyIdSchema, req, 'id', 'api key id');
    const key = await findApiKey(deps.db, id);
    // Another tenant's key answers like a key that does not exist.
    if (!key || !canManage(admin, key)) throw new NotFoundError(`api key ${id}`);
    return key;
  };

  router.post(API_KEYS_PATH, async (req, res) => {
    const admin = requireRole(req, 'admin');
    if (!req.is('application/json')) throw unsupportedMediaType(req);
    // A key is shown once; a replay could not show it again, so a retried request must not look idempotent.
    if (req.get('idempotency-key') !== undefined) {
      throw new ValidationError('Idempotency-Key is not supported here: a key is shown only once', [
        { path: 'Idempotency-Key', message: 'not supported when making an API key', in: 'header' },
      ]);
    }
    const body = parseOrThrow(createApiKeySchema, req.body, 'api key', { in: 'body' });
    if (body.allAccounts && !admin.allAccounts) {
      throw new ApiError(403, 'forbidden', 'Forbidden', 'Only an API key for every account may make another one');
    }
    const userIds = body.allAccounts ? [] : [...new Set(body.userIds ?? [])];
    for (const userId of userIds) assertAccountVisible(req, userId);
    const { record, key } = await createApiKey(deps.db, {
      name: body.name,
      role: body.role,
      userIds,
      allAccounts: body.allAccounts,
      createdById: admin.keyId,
      by: eventSourceOf(req),
    });
    deps.logger.info('api key created', {
      keyId: record.id,
      keyPrefix: record.keyPrefix,
      role: record.role,
      allAccounts: record.allAccounts,
      accounts: record.userIds.length,
      by: admin.keyPrefix,
    });
    res
      .status(201)
      .location(`${API_KEYS_PATH}/${record.id}`)
      .json({ ...apiKeyView(record), key });
  });

  router.get(API_KEYS_PATH, async (req, res) => {
    const admin = requireRole(req, 'admin');
    const query = parseOrThrow(listApiKeysQuerySchema, req.query, 'query', { in: 'query' });
    const keys = await listApiKeys(deps.db, {
      withinUserIds: admin.allAccounts ? null : [...admin.userIds],
      limit: query.limit,
    });
    res.json({ items: keys.map(apiKeyView) });
  });

  router.get(`${API_KEYS_PATH}/:id`, async (req, res) => {
    const admin = requireRole(req, 'admin');
    res.json(apiKeyView(await loadManageableKey(req, admin)));
  });

  router.delete(`${API_KEYS_PATH}/:id`, async (req, res) => {
    const admin = requireRole(req, 'admin');
    const key = await loadManageableKey(req, admin);
    // Idempotent: revoking a revoked key answers the same.
    const revoked = await revokeApiKey(deps.db, key.id, new Date(), eventSourceOf(req));
    // Before answering: a request after the 204 must not find the key in this process's cache.
    deps.apiKeyCache?.forget(key.id);
    if (revoked) deps.logger.info('api key revoked', { keyId: key.id, keyPrefix: key.keyPrefix, by: admin.keyPrefix });
    res.status(204).end();
  });

  return router;
}

export const apiKeyOperations: ApiOperation[] = [
  {
    method: 'post',
    path: API_KEYS_PATH,
    operationId: 'createApiKey',
    tag: 'api keys',
    role: 'admin',
    summary: 'Make an API key (the key is in this answer only)',
    description:
      'An admin bound to some accounts may only make keys within those accounts (another account answers 404) ' +
      'and may not make an allAccounts key (403). Idempotency-Key is refused here: the key cannot be shown twice.',
    body: createApiKeySchema,
    responses: {
      201: {
        description: 'Made; store `key` now, it is not shown again',
        schema: createdApiKeySchema,
        headers: { Location: 'the key' },
      },
    },
  },
  {
    method: 'get',
    path: API_KEYS_PATH,
    operationId: 'listApiKeys',
    tag: 'api keys',
    role: 'admin',
    summary: 'The keys this admin may manage, newest first (never a key or its hash)',
    query: listApiKeysQuerySchema,
    responses: { 200: { description: 'The keys', schema: apiKeyListSchema } },
  },
  {
    method: 'get',
    path: `${API_KEYS_PATH}/:id`,
    operationId: 'getApiKey',
    tag: 'api keys',
    role: 'admin',
    summary: 'One key (never the key or its hash)',
    params: z.strictObject({ id: apiKeyIdSchema }),
    responses: { 200: { description: 'The key', schema: apiKeySchema } },
  },
  {
    method: 'delete',
    path: `${API_KEYS_PATH}/:id`,
    operationId: 'revokeApiKey',
    tag: 'api keys',
    role: 'admin',
    summary: 'Revoke a key (at once, in every API process)',
    params: z.strictObject({ id: apiKeyIdSchema }),
    responses: { 204: { description: 'Revoked (also when it already was)' } },
  },
];
