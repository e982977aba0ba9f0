import { Router } from 'express';
import { z } from 'zod';
import type { Database, FleetEventPage } from '@fleet/db';
import { listEvents } from '@fleet/db';
import { FLEET_EVENT_TYPES } from '@fleet/rollout-domain';
import { assertAccountVisible, loadVisibleRollout, requireRole, visibleUserIds } from '../http/auth.ts';
import { parseOrThrow } from '../http/validate.ts';
import { eventView } from '../event-views.ts';
import type { ApiOperation } from '../openapi.ts';
import { eventPageSchema } from '../response-schemas.ts';
import { rolloutIdSchema, userIdSchema } from '../rollout-schemas.ts';

export type EventRoutesDeps = { db: Database };

const TIMELINE_PATH = '/v1/rollouts/:id/events';
const AUDIT_PATH = '/v1/audit';

/** An event id as a query value: the public, monotonically increasing id (a positive 64-bit integer). */
const eventIdSchema = z
  .string()
  .regex(/^(0|[1-9]\d{0,18})$/, 'must be an event id (a whole number of at most 19 digits, as `id` of an event)');

const pageFields = {
  /** Events with a greater id only: the `nextCursor` (or last event id) of the previous page. */
  after: eventIdSchema.optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
};

const timelineQuerySchema = z.strictObject(pageFields);

const auditQuerySchema = z.strictObject({
  /** Only this account's changes (404 when the API key may not see it). */
  userId: userIdSchema.optional(),
  /** Only the changes this API key made. */
  actorKeyId: z.string().uuid('must be an API key id (UUID)').optional(),
  type: z.enum(FLEET_EVENT_TYPES).optional(),
  ...pageFields,
});

function pageView(page: FleetEventPage) {
  return { items: page.events.map(eventView), nextCursor: page.nextCursor?.toString() ?? null };
}

/**
 * The event log as the API shows it: a rollout's timeline and the audit trail of what API keys changed. Both read
 * the same table the stream reads, oldest first, paged by event id (ids follow commit order, so paging on from
 * the last id seen never misses an event that commits later).
 */
export function eventRoutes(deps: EventRoutesDeps): Router {
  const router = Router();

  router.get(TIMELINE_PATH, async (req, res) => {
    const rollout = await loadVisibleRollout(deps, req, req.params.id);
    const query = parseOrThrow(timelineQuerySchema, req.query, 'query', { in: 'query' });
    const page = await listEvents(deps.db, {
      rolloutId: rollout.id,
      limit: query.limit,
      ...(query.after !== undefined ? { after: BigInt(query.after) } : {}),
    });
    res.json(pageView(page));
  });

  router.get(AUDIT_PATH, async (req, res) => {
    requireRole(req, 'viewer');
    const query = parseOrThrow(auditQuerySchema, req.query, 'query', { in: 'query' });
    if (query.userId !== undefined) assertAccountVisible(req, query.userId);
    const page = await listEvents(deps.db, {
      userIds: visibleUserIds(req),
      actorKind: 'api_key',
      limit: query.limit,
      ...(query.userId !== undefined ? { userId: query.userId } : {}),
      ...(query.actorKeyId !== undefined ? { actorId: query.actorKeyId } : {}),
      ...(query.type !== undefined ? { type: query.type } : {}),
      ...(query.after !== undefined ? { after: BigInt(query.after) } : {}),
    });
    res.json(pageView(page));
  });

  return router;
}

export const eventOperations: ApiOperation[] = [
  {
    method: 'get',
    path: TIMELINE_PATH,
    operationId: 'listRolloutEvents',
    tag: 'events',
    role: 'viewer',
    summary: "A rollout's timeline: its events, oldest first",
    description:
      'Every change of the rollout as an event (`rollout.created`, `rollout.wave_started`, `rollout.paused` with its ' +
      '`data.cause`, `rollout.resumed`, `rollout.policy_changed`, `rollout.aborted`, `rollout.cancelled`, ' +
      "`rollout.completed`, `rollout.retried`, `instance.flagged`, and its flags' `flag.*`), each with who made it " +
      '(`actor`) and the request id. Paged by event id: pass `nextCursor` as `after` for the next page; ' +
      '`nextCursor` is null on the last page so far (later events have greater ids).',
    params: z.strictObject({ id: rolloutIdSchema }),
    query: timelineQuerySchema,
    responses: { 200: { description: 'A page of events', schema: eventPageSchema } },
  },
  {
    method: 'get',
    path: AUDIT_PATH,
    operationId: 'listAuditEvents',
    tag: 'events',
    role: 'viewer',
    summary: 'The audit trail: every change an API key made, across rollouts, flags and keys',
    description:
      'Events whose actor is an API key, of the accounts this key may see, oldest first. An API key event ' +
      "(`api_key.created`, `api_key.revoked`) is shown when every account of that key is the caller's " +
      "(an every-account key's only to every-account callers). Filters: `userId`, `actorKeyId` (the key that " +
      'made the change), `type`. Paged like the timeline.',
    query: auditQuerySchema,
    responses: { 200: { description: 'A page of events', schema: eventPageSchema } },
  },
];
