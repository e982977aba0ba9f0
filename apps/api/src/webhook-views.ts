import { z } from 'zod';
import type { DeliveryWithAttempts, WebhookRecord } from '@fleet/db';

/** The API shapes of a subscription and its delivery log: never a secret, sealed or not (only whether there is one). */

const isoDate = z.iso.datetime({ offset: true });

export function webhookView(webhook: WebhookRecord) {
  return {
    id: webhook.id,
    url: webhook.url,
    kind: webhook.kind,
    events: webhook.events,
    userIds: webhook.userIds,
    allAccounts: webhook.allAccounts,
    description: webhook.description,
    enabled: webhook.enabled,
    disabledReason: webhook.disabledReason,
    hasRobotSecret: webhook.robotSecretSealed !== null,
    previousSecretUntil: webhook.previousSecretUntil?.toISOString() ?? null,
    failingSince: webhook.failingSince?.toISOString() ?? null,
    createdAt: webhook.createdAt.toISOString(),
    updatedAt: webhook.updatedAt.toISOString(),
  };
}

export function deliveryView(delivery: DeliveryWithAttempts) {
  return {
    id: delivery.id,
    eventId: delivery.eventId.toString(),
    eventType: delivery.eventType,
    rolloutId: delivery.rolloutId,
    status: delivery.status,
    attempts: delivery.attempts,
    nextAttemptAt: delivery.nextAttemptAt?.toISOString() ?? null,
    lastAttemptAt: delivery.lastAttemptAt?.toISOString() ?? null,
    deliveredAt: delivery.deliveredAt?.toISOString() ?? null,
    createdAt: delivery.createdAt.toISOString(),
    attemptLog: delivery.attemptLog.map((a) => ({
      attemptNo: a.attemptNo,
      at: a.startedAt.toISOString(),
      httpStatus: a.httpStatus,
      latencyMs: a.latencyMs,
      outcome: a.outcome,
      responseExcerpt: a.responseExcerpt,
      nextRetryAt: a.nextRetryAt?.toISOString() ?? null,
    })),
  };
}

export const webhookSchema = z.object({
  id: z.uuid(),
  url: z
    .string()
    .describe(
      'the receiver URL; for slack and dingtalk (whose URL is the credential) masked: scheme, host, a masked path or query',
    ),
  kind: z.enum(['standard', 'slack', 'dingtalk']),
  events: z.array(z.string()),
  userIds: z.array(z.string()),
  allAccounts: z.boolean(),
  description: z.string().nullable(),
  enabled: z.boolean(),
  disabledReason: z.enum(['operator', 'gone', 'failing']).nullable(),
  hasRobotSecret: z.boolean(),
  previousSecretUntil: isoDate.nullable().describe('the previous signing secret signs beside the new one until then'),
  failingSince: isoDate.nullable().describe('start of the current run of failed attempts'),
  createdAt: isoDate,
  updatedAt: isoDate,
});

export const webhookWithSecretSchema = webhookSchema.extend({
  secret: z.string().describe('the signing secret (whsec_...): shown in this answer only'),
});

export const webhookListSchema = z.object({ items: z.array(webhookSchema) });

export const webhookTestSchema = z.object({ eventId: z.string().describe('the webhook.test event') });

export const deliverySchema = z.object({
  id: z.uuid().describe('the message id: the webhook-id header of every attempt'),
  eventId: z.string(),
  eventType: z.string(),
  rolloutId: z.uuid().nullable(),
  status: z.enum(['pending', 'delivered', 'failed']),
  attempts: z.number().int(),
  nextAttemptAt: isoDate.nullable(),
  lastAttemptAt: isoDate.nullable(),
  deliveredAt: isoDate.nullable(),
  createdAt: isoDate,
  attemptLog: z.array(
    z.object({
      attemptNo: z.number().int(),
      at: isoDate,
      httpStatus: z.number().int().nullable(),
      latencyMs: z.number().int(),
      outcome: z.enum(['delivered', 'http_error', 'gone', 'redirect', 'timeout', 'network_error', 'address_refused']),
      responseExcerpt: z.string().nullable().describe('the first characters of the answer, or the error'),
      nextRetryAt: isoDate.nullable(),
    }),
  ),
});

export const deliveryPageSchema = z.object({
  items: z.array(deliverySchema),
  nextCursor: z.string().nullable(),
});
