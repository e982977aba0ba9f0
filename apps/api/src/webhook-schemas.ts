import { z } from 'zod';
import { FLEET_EVENT_TYPES } from '@fleet/rollout-domain';
import { ALL_EVENTS, WEBHOOK_KINDS } from '@fleet/webhooks';
import { accountUserIdsSchema, refineAccountScope } from './api-key-schemas.ts';

/** What POST /v1/webhooks and PATCH accept; the URL's address checks come after (webhook-url-check.ts). */

const SUBSCRIBABLE = [...FLEET_EVENT_TYPES, ALL_EVENTS] as const;

const webhookUrlSchema = z.string().max(2048, 'must be at most 2048 characters').min(1, 'must be a URL');

const eventsSchema = z
  .array(z.enum(SUBSCRIBABLE, { error: `must be an event type (${FLEET_EVENT_TYPES.join(', ')}) or "*"` }))
  .min(1, 'must list at least one event type, or "*" for every type')
  .max(FLEET_EVENT_TYPES.length + 1)
  .transform((events) => [...new Set(events)]);

const descriptionSchema = z
  .string()
  .max(500, 'must be at most 500 characters')
  .regex(/^[^\p{Cc}\p{Cf}]*$/u, 'must not contain control or formatting characters');

export const createWebhookSchema = z
  .strictObject({
    url: webhookUrlSchema,
    /** Event types to receive; `["*"]`: every type, also types added later. */
    events: eventsSchema,
    /** Accounts whose events it receives (1 to 100). Required unless allAccounts. */
    userIds: accountUserIdsSchema.optional(),
    /** Every account's events, now and later. Only an API key for every account may make one. */
    allAccounts: z.boolean().default(false),
    /** standard (Standard Webhooks JSON), slack (incoming webhook), dingtalk (custom robot). */
    kind: z.enum(WEBHOOK_KINDS).default('standard'),
    description: descriptionSchema.optional(),
    /** A DingTalk robot's signing secret (its `SEC...` value): only with kind dingtalk. Stored sealed, never shown. */
    robotSecret: z
      .string()
      .regex(/^[\x21-\x7e]{1,200}$/, 'must be 1 to 200 printable ASCII characters (the robot\'s "SEC..." secret)')
      .optional(),
  })
  .superRefine((body, ctx) => {
    refineAccountScope(body, ctx);
    if (body.robotSecret !== undefined && body.kind !== 'dingtalk')
      ctx.addIssue({ code: 'custom', path: ['robotSecret'], message: 'is only for kind dingtalk' });
  });

export const updateWebhookSchema = z
  .strictObject({
    url: webhookUrlSchema.optional(),
    events: eventsSchema.optional(),
    /** false: no more deliveries; true: deliveries again, the run of failures forgotten. */
    enabled: z.boolean().optional(),
    description: descriptionSchema.nullable().optional(),
  })
  .refine((body) => Object.values(body).some((v) => v !== undefined), {
    message: 'must change at least one of url, events, enabled, description',
  });

export const webhookIdSchema = z.string().uuid('must be a webhook id (UUID)');
export const deliveryIdSchema = z.string().uuid('must be a delivery id (UUID)');

export const listWebhooksQuerySchema = z.strictObject({
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});

export const listDeliveriesQuerySchema = z.strictObject({
  status: z.enum(['pending', 'delivered', 'failed']).optional(),
  limit: z.coerce.number().int().min(1).max(100).default(20),
  /** The `nextCursor` of the previous page. */
  cursor: z
    .string()
    .regex(/^[1-9]\d{0,18}$/, 'must be the nextCursor of a previous page')
    .optional(),
});
