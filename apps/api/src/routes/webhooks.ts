import { randomUUID } from 'node:crypto';
import { Router } from 'express';
import type { Request } from 'express';
import { z } from 'zod';
import { ApiError, ConflictError, NotFoundError, ValidationError } from '@fleet/errors';
import type { Database, WebhookKindName, WebhookRecord } from '@fleet/db';
import {
  createWebhook,
  deleteWebhook,
  findWebhook,
  listWebhooks,
  recordWebhookTest,
  rotateWebhookSecret,
  updateWebhook,
  webhookSecretContext,
  webhookRobotSecretContext,
  webhookUrlContext,
} from '@fleet/db';
import type { Logger } from '@fleet/logger';
import type { SecretBox } from '@fleet/secrets';
import { generateSigningSecret, isSecretUrlKind, maskSecretUrl } from '@fleet/webhooks';
import type { ApiPrincipal } from '../http/auth.ts';
import { assertAccountVisible, requireAuth, requireRole } from '../http/auth.ts';
import { eventSourceOf } from '../http/event-source.ts';
import { unsupportedMediaType } from '../http/json-guard.ts';
import { parseOrThrow, parsePathParam } from '../http/validate.ts';
import type { ApiOperation } from '../openapi.ts';
import type { WebhookUrlPolicy } from '../webhook-url-check.ts';
import { allowedWebhookUrl } from '../webhook-url-check.ts';
import {
  createWebhookSchema,
  listWebhooksQuerySchema,
  updateWebhookSchema,
  webhookIdSchema,
} from '../webhook-schemas.ts';
import {
  webhookListSchema,
  webhookSchema,
  webhookTestSchema,
  webhookView,
  webhookWithSecretSchema,
} from '../webhook-views.ts';

export type WebhookRoutesDeps = {
  db: Database;
  logger: Logger;
  /** Seals the subscriptions' secrets; undefined without FLEET_ENCRYPTION_KEY (webhooks then cannot be made: 503). */
  secretBox: SecretBox | undefined;
  webhookUrlPolicy: WebhookUrlPolicy;
};

export const WEBHOOKS_PATH = '/v1/webhooks';
/** How long the previous signing secret keeps signing after a rotation. */
const PREVIOUS_SECRET_MS = 24 * 3_600_000;

/** A subscription is the caller's when its accounts are all the caller's (as an API key an admin may manage). */
function canSeeWebhook(principal: ApiPrincipal, webhook: WebhookRecord): boolean {
  if (principal.allAccounts) return true;
  return !webhook.allAccounts && webhook.userIds.length > 0 && webhook.userIds.every((u) => principal.userIds.has(u));
}

/** The subscription `:id` names, or 404 when there is none or it is another tenant's (the same answer). */
export async function loadVisibleWebhook(deps: { db: Database }, req: Request): Promise<WebhookRecord> {
  const id = parsePathParam(webhookIdSchema, req, 'id', 'webhook id');
  const webhook = await findWebhook(deps.db, id);
  if (!webhook || !canSeeWebhook(requireAuth(req), webhook)) throw new NotFoundError(`webhook ${id}`);
  return webhook;
}

function requireSecretBox(box: SecretBox | undefined): SecretBox {
  if (box) return box;
  throw new ApiError(
    503,
    'encryption_not_configured',
    'Service unavailable',
    'Webhooks need FLEET_ENCRYPTION_KEY to store their secrets encrypted; it is not set on this API',
  );
}

/**
 * How a subscription's URL is stored: a chat kind's (Slack, DingTalk: the URL is the channel's credential) sealed, with
 * its masked form to show; a standard one as it is.
 */
function storedUrl(
  kind: WebhookKindName,
  id: string,
  url: string,
  box: SecretBox | undefined,
): { url: string; urlSealed: string | null } {
  if (!isSecretUrlKind(kind)) return { url, urlSealed: null };
  return { url: maskSecretUrl(url), urlSealed: requireSecretBox(box).seal(url, webhookUrlContext(id)) };
}

/** The URL a subscription sends to, in clear; null when it cannot be opened here (no key, or another key's). */
function clearUrlOf(webhook: WebhookRecord, box: SecretBox | undefined): string | null {
  if (webhook.urlSealed === null) return webhook.url;
  try {
    return box ? box.open(webhook.urlSealed, webhookUrlContext(webhook.id)) : null;
  } catch {
    return null;
  }
}

/** Subscriptions: made, read, changed, rotated, tested and deleted; tenant-scoped like rollouts. */
export function webhookRoutes(deps: WebhookRoutesDeps): Router {
  const router = Router();

  router.post(WEBHOOKS_PATH, async (req, res) => {
    const caller = requireRole(req, 'operator');
    if (!req.is('application/json')) throw unsupportedMediaType(req);
    // The secret is shown once; a replay could not show it again.
    if (req.get('idempotency-key') !== undefined)
      throw new ValidationError('Idempotency-Key is not supported here: the secret is shown only once', [
        { path: 'Idempotency-Key', message: 'not supported when making a webhook', in: 'header' },
      ]);
    const body = parseOrThrow(createWebhookSchema, req.body, 'webhook', { in: 'body' });
    if (body.allAccounts && !caller.allAccounts)
      throw new ApiError(
        403,
        'forbidden',
        'Forbidden',
        'Only an API key for every account may subscribe to every account',
      );
    const userIds = body.allAccounts ? [] : [...new Set(body.userIds ?? [])];
    for (const userId of userIds) assertAccountVisible(req, userId);
    const box = requireSecretBox(deps.secretBox);
    const url = await allowedWebhookUrl(body.url, deps.webhookUrlPolicy);
    const id = randomUUID();
    const secret = generateSigningSecret();
    const webhook = await createWebhook(deps.db, {
      id,
      ...storedUrl(body.kind, id, url, box),
      kind: body.kind,
      events: body.events,
      userIds,
      allAccounts: body.allAccounts,
      description: body.description ?? null,
      secretSealed: box.seal(secret, webhookSecretContext(id)),
      robotSecretSealed: body.robotSecret ? box.seal(body.robotSecret, webhookRobotSecretContext(id)) : null,
      createdByKeyId: caller.keyId,
      by: eventSourceOf(req),
    });
    // The URL's host only: a chat URL's path or query is its credential.
    deps.logger.info('webhook created', {
      webhookId: id,
      kind: webhook.kind,
      host: new URL(url).host,
      by: caller.keyPrefix,
    });
    res
      .status(201)
      .location(`${WEBHOOKS_PATH}/${id}`)
      .json({ ...webhookView(webhook), secret });
  });

  router.get(WEBHOOKS_PATH, async (req, res) => {
    const caller = requireAuth(req);
    const query = parseOrThrow(listWebhooksQuerySchema, req.query, 'query', { in: 'query' });
    const webhooks = await listWebhooks(deps.db, {
      withinUserIds: caller.allAccounts ? null : [...caller.userIds],
      limit: query.limit,
    });
    res.json({ items: webhooks.map(webhookView) });
  });

  router.get(`${WEBHOOKS_PATH}/:id`, async (req, res) => {
    res.json(webhookView(await loadVisibleWebhook(deps, req)));
  });

  router.patch(`${WEBHOOKS_PATH}/:id`, async (req, res) => {
    requireRole(req, 'operator');
    if (!req.is('application/json')) throw unsupportedMediaType(req);
    const webhook = await loadVisibleWebhook(deps, req);
    const body = parseOrThrow(updateWebhookSchema, req.body, 'webhook change', { in: 'body' });
    const url = body.url === undefined ? undefined : await allowedWebhookUrl(body.url, deps.webhookUrlPolicy);
    // The same URL again is no change (a chat kind's is compared in clear: sealing it again would differ each time).
    const newUrl = url === undefined || url === clearUrlOf(webhook, deps.secretBox) ? undefined : url;
    const updated = await updateWebhook(
      deps.db,
      webhook,
      {
        ...(newUrl !== undefined ? storedUrl(webhook.kind, webhook.id, newUrl, deps.secretBox) : {}),
        ...(body.events !== undefined ? { events: body.events } : {}),
        ...(body.enabled !== undefined ? { enabled: body.enabled } : {}),
        ...(body.description !== undefined ? { description: body.description } : {}),
      },
      eventSourceOf(req),
    );
    if (!updated)
      throw new ConflictError('webhook_changed', `webhook ${webhook.id} was changed meanwhile; read it and try again`);
    res.json(webhookView(updated));
  });

  router.delete(`${WEBHOOKS_PATH}/:id`, async (req, res) => {
    requireRole(req, 'operator');
    const webhook = await loadVisibleWebhook(deps, req);
    if (await deleteWebhook(deps.db, webhook, eventSourceOf(req)))
      deps.logger.info('webhook deleted', { webhookId: webhook.id });
    res.status(204).end();
  });

  router.post(`${WEBHOOKS_PATH}/:id/rotate-secret`, async (req, res) => {
    requireRole(req, 'operator');
    const webhook = await loadVisibleWebhook(deps, req);
    const box = requireSecretBox(deps.secretBox);
    const secret = generateSigningSecret();
    const rotated = await rotateWebhookSecret(
      deps.db,
      webhook,
      {
        secretSealed: box.seal(secret, webhookSecretContext(webhook.id)),
        previousSecretUntil: new Date(Date.now() + PREVIOUS_SECRET_MS),
      },
      eventSourceOf(req),
    );
    if (!rotated) throw new ConflictError('webhook_changed', `webhook ${webhook.id} had its secret rotated meanwhile`);
    res.json({ ...webhookView(rotated), secret });
  });

  router.post(`${WEBHOOKS_PATH}/:id/test`, async (req, res) => {
    requireRole(req, 'operator');
    const webhook = await loadVisibleWebhook(deps, req);
    // The dispatcher makes deliveries for enabled subscriptions only: a test event for a disabled one would never go.
    if (!webhook.enabled)
      throw new ConflictError(
        'webhook_disabled',
        `webhook ${webhook.id} is disabled (${webhook.disabledReason ?? 'operator'}): enable it with PATCH {"enabled": true} to test it`,
      );
    const eventId = await recordWebhookTest(deps.db, webhook, eventSourceOf(req));
    res.status(202).json({ eventId: eventId.toString() });
  });

  return router;
}

const idParams = z.strictObject({ id: webhookIdSchema });

export const webhookOperations: ApiOperation[] = [
  {
    method: 'post',
    path: WEBHOOKS_PATH,
    operationId: 'createWebhook',
    tag: 'webhooks',
    role: 'operator',
    summary: 'Subscribe a URL to events (the signing secret is in this answer only)',
    description:
      'The URL must be http(s) and resolve only to public addresses (422 `webhook_url_refused` names why not). ' +
      'Accounts outside the key answer 404; allAccounts needs a key for every account (403). 503 ' +
      '`encryption_not_configured` without FLEET_ENCRYPTION_KEY.',
    body: createWebhookSchema,
    responses: {
      201: {
        description: 'Made; store `secret` now',
        schema: webhookWithSecretSchema,
        headers: { Location: 'the webhook' },
      },
      422: { description: 'The URL is refused (SSRF policy)' },
    },
  },
  {
    method: 'get',
    path: WEBHOOKS_PATH,
    operationId: 'listWebhooks',
    tag: 'webhooks',
    role: 'viewer',
    summary: "The caller's subscriptions, newest first (never a secret)",
    query: listWebhooksQuerySchema,
    responses: { 200: { description: 'The subscriptions', schema: webhookListSchema } },
  },
  {
    method: 'get',
    path: `${WEBHOOKS_PATH}/:id`,
    operationId: 'getWebhook',
    tag: 'webhooks',
    role: 'viewer',
    summary: 'One subscription (never a secret)',
    params: idParams,
    responses: { 200: { description: 'The subscription', schema: webhookSchema } },
  },
  {
    method: 'patch',
    path: `${WEBHOOKS_PATH}/:id`,
    operationId: 'updateWebhook',
    tag: 'webhooks',
    role: 'operator',
    summary: 'Change url, events, enabled or description',
    params: idParams,
    body: updateWebhookSchema,
    responses: {
      200: { description: 'Changed', schema: webhookSchema },
      409: { description: 'Changed by someone else meanwhile' },
      422: { description: 'The new URL is refused (SSRF policy)' },
    },
  },
  {
    method: 'delete',
    path: `${WEBHOOKS_PATH}/:id`,
    operationId: 'deleteWebhook',
    tag: 'webhooks',
    role: 'operator',
    summary: 'Delete a subscription and its delivery log',
    params: idParams,
    responses: { 204: { description: 'Deleted' } },
  },
  {
    method: 'post',
    path: `${WEBHOOKS_PATH}/:id/rotate-secret`,
    operationId: 'rotateWebhookSecret',
    tag: 'webhooks',
    role: 'operator',
    summary: 'A new signing secret; the old one signs beside it for 24 hours',
    params: idParams,
    responses: { 200: { description: 'Rotated; store `secret` now', schema: webhookWithSecretSchema } },
  },
  {
    method: 'post',
    path: `${WEBHOOKS_PATH}/:id/test`,
    operationId: 'testWebhook',
    tag: 'webhooks',
    role: 'operator',
    summary: 'Send a webhook.test event to this subscription',
    params: idParams,
    responses: {
      202: { description: 'The event is recorded; its delivery follows', schema: webhookTestSchema },
      409: { description: 'The subscription is disabled (`webhook_disabled`); nothing is recorded' },
    },
  },
];
