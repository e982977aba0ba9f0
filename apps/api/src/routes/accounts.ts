import { Router } from 'express';
import type { Request } from 'express';
import type { EndpointAllowlist } from '@fleet/accounts';
import { endpointRefusal } from '@fleet/accounts';
import type { Database, SealedCredentials } from '@fleet/db';
import {
  AccountExistsError,
  AccountHasOpenRolloutsError,
  accountSecretContext,
  accountTokenContext,
  createAccount,
  deleteAccount,
  findAccount,
  listAccounts,
  rotateAccountCredentials,
  updateAccount,
} from '@fleet/db';
import { ApiError, ConflictError, NotFoundError } from '@fleet/errors';
import type { Logger } from '@fleet/logger';
import type { SecretBox } from '@fleet/secrets';
import type { z } from 'zod';
import {
  CREDENTIAL_SECRET_FIELDS,
  accountUserIdParamsSchema,
  createAccountSchema,
  credentialsSchema,
  listAccountsQuerySchema,
  updateAccountSchema,
} from '../account-schemas.ts';
import { accountListSchema, accountSchema, accountView } from '../account-views.ts';
import { assertAccountVisible, requireRole, visibleUserIds } from '../http/auth.ts';
import { eventSourceOf } from '../http/event-source.ts';
import { unsupportedMediaType } from '../http/json-guard.ts';
import { parseOrThrow } from '../http/validate.ts';
import type { ApiOperation } from '../openapi.ts';

const ACCOUNTS_PATH = '/v1/accounts';

export type AccountRouteDeps = {
  db: Database;
  logger: Logger;
  /** Seals credentials; undefined when FLEET_ENCRYPTION_KEY is unset (credentials are then refused). */
  box: SecretBox | undefined;
  /** CMS_ENDPOINT_ALLOWLIST: where an account's endpoint may point. */
  endpointAllowlist: EndpointAllowlist;
};

/**
 * Accounts, for admins, within the accounts of their key: another tenant's account answers 404 like one that does
 * not exist. Credentials are sealed here (@fleet/secrets) before they reach the database and never leave it again:
 * answers show the AccessKeyId masked and when the credentials were set.
 */
export function accountRoutes(deps: AccountRouteDeps): Router {
  const router = Router();

  const userIdOf = (req: Request) =>
    parseOrThrow(accountUserIdParamsSchema, { userId: req.params.userId }, 'account UserId', {
      in: 'path',
      name: 'userId',
    }).userId;

  /** The account named by the path, visible to the caller, or 404. */
  const loadVisible = async (req: Request) => {
    const userId = userIdOf(req);
    assertAccountVisible(req, userId);
    const account = await findAccount(deps.db, userId);
    if (!account) throw new NotFoundError(`account ${userId}`);
    return account;
  };

  function assertEndpointAllowed(endpoint: string | null | undefined): void {
    if (endpoint === undefined || endpoint === null) return;
    const refusal = endpointRefusal(endpoint, deps.endpointAllowlist);
    if (refusal !== null)
      throw new ApiError(
        422,
        'endpoint_not_allowed',
        'Endpoint not allowed',
        `endpoint ${JSON.stringify(endpoint.slice(0, 200))} ${refusal}: workers only call endpoints in that list`,
        [{ path: 'endpoint', message: refusal, in: 'body' }],
      );
  }

  function seal(userId: string, credentials: z.output<typeof credentialsSchema>): SealedCredentials {
    if (!deps.box)
      throw new ApiError(
        503,
        'encryption_not_configured',
        'Encryption key not configured',
        'Credentials cannot be stored: FLEET_ENCRYPTION_KEY is not set on the API (32 random bytes in base64, ' +
          '`openssl rand -base64 32`; the workers and the reconciler need the same key). Nothing was stored',
      );
    return {
      accessKeyId: credentials.accessKeyId,
      accessKeySecret: deps.box.seal(credentials.accessKeySecret, accountSecretContext(userId)),
      securityToken:
        credentials.securityToken === undefined
          ? null
          : deps.box.seal(credentials.securityToken, accountTokenContext(userId)),
    };
  }

  const requireJson = (req: Request) => {
    if (!req.is('application/json')) throw unsupportedMediaType(req);
  };

  router.post(ACCOUNTS_PATH, async (req, res) => {
    const admin = requireRole(req, 'admin');
    requireJson(req);
    const body = parseOrThrow(createAccountSchema, req.body, 'account', { in: 'body' }, CREDENTIAL_SECRET_FIELDS);
    assertAccountVisible(req, body.userId);
    assertEndpointAllowed(body.endpoint);
    const credentials = body.credentials ? seal(body.userId, body.credentials) : null;
    let account;
    try {
      account = await createAccount(deps.db, {
        userId: body.userId,
        name: body.name,
        endpoint: body.endpoint ?? null,
        rateLimitRps: body.rateLimitRps ?? null,
        rateBurst: body.rateBurst ?? null,
        credentials,
        createdByKeyId: admin.keyId,
        by: eventSourceOf(req),
      });
    } catch (error) {
      if (error instanceof AccountExistsError)
        throw new ConflictError('account_exists', `account ${body.userId} exists already; change it with PATCH`);
      throw error;
    }
    deps.logger.info('account created', {
      userId: account.userId,
      accessKeyId: account.accessKeyId,
      by: admin.keyPrefix,
    });
    res.status(201).location(`${ACCOUNTS_PATH}/${account.userId}`).json(accountView(account));
  });

  router.get(ACCOUNTS_PATH, async (req, res) => {
    requireRole(req, 'admin');
    const query = parseOrThrow(listAccountsQuerySchema, req.query, 'query', { in: 'query' });
    const accounts = await listAccounts(deps.db, {
      userIds: visibleUserIds(req),
      limit: query.limit,
      ...(query.after !== undefined ? { afterUserId: query.after } : {}),
    });
    res.json({
      items: accounts.map(accountView),
      nextAfter: accounts.length === query.limit ? accounts[accounts.length - 1]!.userId : null,
    });
  });

  router.get(`${ACCOUNTS_PATH}/:userId`, async (req, res) => {
    requireRole(req, 'admin');
    res.json(accountView(await loadVisible(req)));
  });

  router.patch(`${ACCOUNTS_PATH}/:userId`, async (req, res) => {
    requireRole(req, 'admin');
    requireJson(req);
    const account = await loadVisible(req);
    const patch = parseOrThrow(updateAccountSchema, req.body, 'account change', { in: 'body' });
    assertEndpointAllowed(patch.endpoint);
    const updated = await updateAccount(deps.db, account.userId, patch, eventSourceOf(req));
    if (!updated) throw new NotFoundError(`account ${account.userId}`);
    res.json(accountView(updated));
  });

  router.put(`${ACCOUNTS_PATH}/:userId/credentials`, async (req, res) => {
    const admin = requireRole(req, 'admin');
    requireJson(req);
    const account = await loadVisible(req);
    const body = parseOrThrow(credentialsSchema, req.body, 'credentials', { in: 'body' }, CREDENTIAL_SECRET_FIELDS);
    const rotated = await rotateAccountCredentials(
      deps.db,
      account.userId,
      seal(account.userId, body),
      eventSourceOf(req),
    );
    if (!rotated) throw new NotFoundError(`account ${account.userId}`);
    deps.logger.info('account credentials rotated', {
      userId: rotated.userId,
      accessKeyId: rotated.accessKeyId,
      previousAccessKeyId: account.accessKeyId,
      by: admin.keyPrefix,
    });
    res.json(accountView(rotated));
  });

  router.delete(`${ACCOUNTS_PATH}/:userId`, async (req, res) => {
    const admin = requireRole(req, 'admin');
    const account = await loadVisible(req);
    try {
      await deleteAccount(deps.db, account.userId, eventSourceOf(req));
    } catch (error) {
      if (error instanceof AccountHasOpenRolloutsError)
        throw new ConflictError(
          'account_has_open_rollouts',
          `account ${account.userId} has ${error.openRollouts} open rollout(s) (running, paused, scheduled or waiting for a window); ` +
            'cancel them or wait for them to end before deleting it',
        );
      throw error;
    }
    deps.logger.info('account deleted', { userId: account.userId, by: admin.keyPrefix });
    res.status(204).end();
  });

  return router;
}

const userIdParams = accountUserIdParamsSchema;

export const accountOperations: ApiOperation[] = [
  {
    method: 'post',
    path: ACCOUNTS_PATH,
    operationId: 'createAccount',
    tag: 'accounts',
    role: 'admin',
    summary: 'Add an account: its own AccessKey (stored encrypted), endpoint and limits',
    description:
      "An account of the caller's key only (another answers 404). The secret and the STS token are sealed with " +
      'FLEET_ENCRYPTION_KEY (AES-256-GCM) and never shown again: answers mask the AccessKeyId to its last 4 characters. ' +
      'Without FLEET_ENCRYPTION_KEY, credentials are refused (503 encryption_not_configured). An endpoint outside ' +
      'CMS_ENDPOINT_ALLOWLIST answers 422 endpoint_not_allowed; an existing account 409 account_exists.',
    body: createAccountSchema,
    responses: {
      201: { description: 'Made', schema: accountSchema, headers: { Location: 'the account' } },
      409: { description: 'An account with this UserId exists (`account_exists`)' },
      422: { description: 'The endpoint is outside CMS_ENDPOINT_ALLOWLIST (`endpoint_not_allowed`)' },
    },
  },
  {
    method: 'get',
    path: ACCOUNTS_PATH,
    operationId: 'listAccounts',
    tag: 'accounts',
    role: 'admin',
    summary: "The caller's accounts, by UserId (never a secret)",
    query: listAccountsQuerySchema,
    responses: { 200: { description: 'The accounts', schema: accountListSchema } },
  },
  {
    method: 'get',
    path: `${ACCOUNTS_PATH}/:userId`,
    operationId: 'getAccount',
    tag: 'accounts',
    role: 'admin',
    summary: 'One account (never a secret)',
    params: userIdParams,
    responses: { 200: { description: 'The account', schema: accountSchema } },
  },
  {
    method: 'patch',
    path: `${ACCOUNTS_PATH}/:userId`,
    operationId: 'updateAccount',
    tag: 'accounts',
    role: 'admin',
    summary: 'Change its name, endpoint or limits (null: back to the default); workers apply it within seconds',
    params: userIdParams,
    body: updateAccountSchema,
    responses: {
      200: { description: 'Changed', schema: accountSchema },
      422: { description: 'The endpoint is outside CMS_ENDPOINT_ALLOWLIST (`endpoint_not_allowed`)' },
    },
  },
  {
    method: 'put',
    path: `${ACCOUNTS_PATH}/:userId/credentials`,
    operationId: 'rotateAccountCredentials',
    tag: 'accounts',
    role: 'admin',
    summary: 'Rotate its credentials: the next call of every worker is signed with them, within seconds, no restart',
    description:
      'Calls already in flight finish with the key they were signed with; the exact replay of an attempt signed ' +
      'with the previous key still uses it. 503 encryption_not_configured without FLEET_ENCRYPTION_KEY.',
    params: userIdParams,
    body: credentialsSchema,
    responses: { 200: { description: 'Rotated', schema: accountSchema } },
  },
  {
    method: 'delete',
    path: `${ACCOUNTS_PATH}/:userId`,
    operationId: 'deleteAccount',
    tag: 'accounts',
    role: 'admin',
    summary: "Delete it (its later rollouts are signed with the workers' pair); refused while a rollout of it is open",
    params: userIdParams,
    responses: {
      204: { description: 'Deleted' },
      409: {
        description:
          'A rollout of the account is open: running, paused, scheduled or waiting for a window (`account_has_open_rollouts`)',
      },
    },
  },
];
