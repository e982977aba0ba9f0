import { Router } from 'express';
import type { Request } from 'express';
import type { RedisClient } from '@fleet/queue';
import { z } from 'zod';
import { DependencyUnavailableError } from '@fleet/errors';
import type { Database } from '@fleet/db';
import type { Logger } from '@fleet/logger';
import { isFinalRolloutStatus } from '@fleet/rollout-domain';
import type { RolloutStreamHub } from '../event-stream/rollout-stream-hub.ts';
import { FINAL_EVENT_TYPES } from '../event-stream/rollout-stream-hub.ts';
import { startSse } from '../event-stream/sse-response.ts';
import { TICKET_TTL_MS, issueStreamTicket } from '../event-stream/stream-tickets.ts';
import { loadVisibleRollout, requireAuth } from '../http/auth.ts';
import { parseOrThrow } from '../http/validate.ts';
import type { ApiOperation } from '../openapi.ts';
import { readRolloutStatus } from '../rollout-status.ts';
import { rolloutIdSchema } from '../rollout-schemas.ts';

export type RolloutEventStreamDeps = {
  db: Database;
  redis: RedisClient;
  queuePrefix: string;
  logger: Logger;
  eventStreams: RolloutStreamHub;
  /** Comment heartbeat of every stream, in ms. Default 15,000. */
  streamHeartbeatMs?: number;
  /** How long a stream ticket may wait for its use, in ms. Default 60,000 (TICKET_TTL_MS). */
  streamTicketTtlMs?: number;
};

const eventIdSchema = z.string().regex(/^\d{1,19}$/, 'must be an event id (digits)');

const streamQuerySchema = z.strictObject({
  /** Resume after this event id when there is no Last-Event-ID header (a new EventSource after a ticket). */
  after: eventIdSchema.optional(),
  /** A stream ticket (POST .../events/stream-tickets), for clients that cannot send Authorization. */
  ticket: z.string().optional(),
});

const streamTicketSchema = z.object({
  ticket: z.string().describe('Single use; valid for 60 s, for this rollout only'),
  expiresAt: z.string().describe('ISO time after which the ticket opens nothing'),
  url: z.string().describe('The stream URL with the ticket, relative to the API'),
});

/** Where the stream resumes: the Last-Event-ID header (EventSource's reconnect), else `?after=`, else the start. */
function resumeAfter(req: Request, query: z.output<typeof streamQuerySchema>): bigint {
  const header = req.get('last-event-id');
  if (header !== undefined && header !== '')
    return BigInt(parseOrThrow(eventIdSchema, header, 'Last-Event-ID', { in: 'header', name: 'Last-Event-ID' }));
  return query.after === undefined ? 0n : BigInt(query.after);
}

export function rolloutEventStreamRoutes(deps: RolloutEventStreamDeps): Router {
  const router = Router();

  router.post('/v1/rollouts/:id/events/stream-tickets', async (req, res) => {
    const principal = requireAuth(req);
    const rollout = await loadVisibleRollout(deps, req, req.params.id);
    const issued = await issueStreamTicket(
      deps,
      { apiKeyId: principal.keyId, rolloutId: rollout.id },
      deps.streamTicketTtlMs,
    ).catch((error: unknown) => {
      throw new DependencyUnavailableError('redis', { cause: error });
    });
    res
      .status(201)
      .setHeader('Cache-Control', 'no-store')
      .json({
        ticket: issued.ticket,
        expiresAt: issued.expiresAt.toISOString(),
        url: `/v1/rollouts/${rollout.id}/events/stream?ticket=${issued.ticket}`,
      });
  });

  router.get('/v1/rollouts/:id/events/stream', async (req, res) => {
    const rollout = await loadVisibleRollout(deps, req, req.params.id);
    const query = parseOrThrow(streamQuerySchema, req.query, 'query', { in: 'query' });
    const after = resumeAfter(req, query);
    const sseOptions = deps.streamHeartbeatMs === undefined ? {} : { heartbeatMs: deps.streamHeartbeatMs };
    if (isFinalRolloutStatus(rollout.status)) {
      // No topic serves a finished rollout: what is left of its timeline, its last status, and the end. With nothing
      // left, 204 tells an EventSource to stop reconnecting.
      const pages: Parameters<Parameters<RolloutStreamHub['readAllAfter']>[2]>[0][] = [];
      await deps.eventStreams.readAllAfter(rollout.id, after, (page) => pages.push(page));
      if (pages.length === 0) {
        res.status(204).end();
        return;
      }
      const progress = { event: 'progress', data: await readRolloutStatus(deps, rollout) };
      const sse = startSse(res, sseOptions);
      const events = pages.flat();
      // As a live stream ends: the last progress, then the final event.
      if (!events.some((e) => FINAL_EVENT_TYPES.has(e.type))) sse.event(progress);
      for (const event of events) {
        if (FINAL_EVENT_TYPES.has(event.type)) sse.event(progress);
        sse.event({ id: event.id.toString(), event: event.type, data: event.data });
      }
      sse.close();
      return;
    }
    // Listening before anything is sent: when Postgres cannot be heard, the client gets a 503, not an empty stream.
    await deps.eventStreams.ready();
    const sse = startSse(res, sseOptions);
    await deps.eventStreams.join(rollout, after, sse);
  });

  return router;
}

const rolloutParams = z.object({ id: rolloutIdSchema });

export const rolloutEventStreamOperations: ApiOperation[] = [
  {
    method: 'get',
    path: '/v1/rollouts/:id/events/stream',
    operationId: 'streamRolloutEvents',
    summary: "The rollout's events and progress as Server-Sent Events (text/event-stream)",
    description:
      'Each stored event as `id:` / `event:` (its type) / `data:` (the event as GET /v1/rollouts/{id}/events shows it), ' +
      'oldest first, from the start of the timeline or after `Last-Event-ID` (or `?after=`). A `progress` event (no ' +
      'id; data: the rollout as GET /v1/rollouts/{id} shows it) at once, then at most once a second while anything ' +
      'changes; a comment line every 15 s. The stream ends after the final event (`rollout.completed`, ' +
      '`rollout.cancelled`, `rollout.aborted`). A finished rollout with nothing after `Last-Event-ID` answers 204, ' +
      "which stops an EventSource's reconnects. Without an Authorization header, `?ticket=` (see stream-tickets) " +
      'authenticates it.',
    tag: 'events',
    role: 'viewer',
    params: rolloutParams,
    query: streamQuerySchema,
    headers: [
      {
        name: 'Last-Event-ID',
        description: 'Resume after this event id (sent by EventSource when it reconnects)',
        schema: eventIdSchema,
      },
    ],
    responses: {
      200: { description: 'The stream', contentType: 'text/event-stream', schema: z.string() },
      204: { description: 'The rollout is finished and nothing is left after Last-Event-ID' },
    },
  },
  {
    method: 'post',
    path: '/v1/rollouts/:id/events/stream-tickets',
    operationId: 'createStreamTicket',
    summary: "A single-use, 60-second ticket to open the rollout's event stream without an Authorization header",
    description:
      "For a browser's EventSource, which cannot send headers: open `url` (…/events/stream?ticket=…) within " +
      `${TICKET_TTL_MS / 1000} s. The ticket works once, for this rollout, as the key that made it (a key revoked since ` +
      'opens nothing); only its hash is kept. To resume after a drop, make a new ticket and add `&after=<last event id>`. ' +
      'Viewers may make one.',
    tag: 'events',
    role: 'viewer',
    params: rolloutParams,
    responses: {
      201: { description: 'The ticket', schema: streamTicketSchema },
    },
  },
];
