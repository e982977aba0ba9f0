import { Router } from 'express';
import { z } from 'zod';
import { ConflictError, NotFoundError, assertNever } from '@fleet/errors';
import type { Database } from '@fleet/db';
import { listDeliveries, markForRedelivery } from '@fleet/db';
import type { Logger } from '@fleet/logger';
import type { WebhookQueue } from '@fleet/queue';
import { redeliverWebhookNow } from '@fleet/queue';
import { requireRole } from '../http/auth.ts';
import { parseOrThrow, parsePathParam } from '../http/validate.ts';
import type { ApiOperation } from '../openapi.ts';
import { deliveryIdSchema, listDeliveriesQuerySchema, webhookIdSchema } from '../webhook-schemas.ts';
import { deliveryPageSchema, deliverySchema, deliveryView } from '../webhook-views.ts';
import { loadVisibleWebhook, WEBHOOKS_PATH } from './webhooks.ts';

export type WebhookDeliveryRoutesDeps = {
  db: Database;
  logger: Logger;
  /** Where a redelivery's job goes at once; without it (or with Redis away) the notifier's re-drive picks it up. */
  webhookQueue?: WebhookQueue | undefined;
};

const DELIVERIES_PATH = `${WEBHOOKS_PATH}/:id/deliveries`;
const REDELIVER_PATH = `${DELIVERIES_PATH}/:deliveryId/redeliver`;

/** A subscription's delivery log (GitHub's "Recent Deliveries"): every message, each attempt, and a redelivery. */
export function webhookDeliveryRoutes(deps: WebhookDeliveryRoutesDeps): Router {
  const router = Router();

  router.get(DELIVERIES_PATH, async (req, res) => {
    const webhook = await loadVisibleWebhook(deps, req);
    const query = parseOrThrow(listDeliveriesQuerySchema, req.query, 'query', { in: 'query' });
    const page = await listDeliveries(deps.db, webhook.id, {
      limit: query.limit,
      ...(query.status ? { status: query.status } : {}),
      ...(query.cursor ? { before: BigInt(query.cursor) } : {}),
    });
    res.json({ items: page.deliveries.map(deliveryView), nextCursor: page.nextCursor?.toString() ?? null });
  });

  router.post(REDELIVER_PATH, async (req, res) => {
    requireRole(req, 'operator');
    const webhook = await loadVisibleWebhook(deps, req);
    const deliveryId = parsePathParam(deliveryIdSchema, req, 'deliveryId', 'delivery id');
    const marked = await markForRedelivery(deps.db, webhook.id, deliveryId);
    switch (marked.kind) {
      case 'marked':
        break;
      case 'missing':
        throw new NotFoundError(`delivery ${deliveryId}`);
      case 'in_flight':
        // Its attempt's outcome is about to be recorded; a redelivery beside it would race it. The operator reads the
        // outcome in the log and asks again if it failed.
        throw new ConflictError(
          'delivery_in_flight',
          `delivery ${deliveryId} is being attempted now (until ${marked.leaseUntil.toISOString()} at the latest); ` +
            'read its outcome in the delivery log and redeliver after it if needed',
        );
      default:
        return assertNever(marked, 'redelivery result');
    }
    const delivery = marked.delivery;
    if (deps.webhookQueue)
      await redeliverWebhookNow(deps.webhookQueue, deliveryId).catch((error: unknown) =>
        deps.logger.warn('could not enqueue a redelivery; the notifier re-drive will', {
          deliveryId,
          error: error instanceof Error ? error.message : String(error),
        }),
      );
    const [view] = (await listDeliveries(deps.db, webhook.id, { before: delivery.eventId + 1n, limit: 1 })).deliveries;
    res.status(202).json(deliveryView(view!));
  });

  return router;
}

export const webhookDeliveryOperations: ApiOperation[] = [
  {
    method: 'get',
    path: DELIVERIES_PATH,
    operationId: 'listWebhookDeliveries',
    tag: 'webhooks',
    role: 'viewer',
    summary: 'The delivery log: each message, newest event first, with every attempt',
    params: z.strictObject({ id: webhookIdSchema }),
    query: listDeliveriesQuerySchema,
    responses: { 200: { description: 'A page of deliveries', schema: deliveryPageSchema } },
  },
  {
    method: 'post',
    path: REDELIVER_PATH,
    operationId: 'redeliverWebhookDelivery',
    tag: 'webhooks',
    role: 'operator',
    summary: 'Send a message again now, with the same webhook-id',
    params: z.strictObject({ id: webhookIdSchema, deliveryId: deliveryIdSchema }),
    responses: {
      202: { description: 'Pending again', schema: deliverySchema },
      409: { description: 'An attempt of it is in flight (`delivery_in_flight`): nothing changed; ask again after it' },
    },
  },
];
