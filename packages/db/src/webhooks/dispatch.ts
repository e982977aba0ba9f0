import { randomUUID } from 'node:crypto';
import type { Database } from '../client.ts';
import type { FleetEventRecord } from '../events/list-events.ts';
import { listEventsWithClient } from '../events/list-events.ts';
import type { WebhookRecord } from './subscriptions.ts';
import { listEnabledWebhooks } from './subscriptions.ts';

/**
 * The dispatcher's step: events after the cursor become deliveries (one row per event and receiving subscription),
 * and the cursor moves past them, in one transaction. The cursor row is locked (FOR UPDATE) for it, so dispatchers
 * of several notifier processes take turns; the (webhook_id, event_id) key makes a repeated insert a no-op. Event ids
 * follow commit order (events/record-events.ts), so reading on after the cursor never skips an event committed later.
 * Redis is not touched here: the caller enqueues the new rows after commit, and the re-drive finds any it did not.
 */

export const DISPATCH_CURSOR = 'webhooks';

export type NewDelivery = {
  id: string;
  webhookId: string;
  eventId: bigint;
  eventType: string;
  rolloutId: string | null;
};

/** Which of `subscriptions` receive `event` (the pure rule of @fleet/webhooks, handed in). */
export type DeliveryPlanner = (event: FleetEventRecord, subscriptions: readonly WebhookRecord[]) => WebhookRecord[];

export type DispatchStep = {
  /** Events read (0: the cursor has caught up). */
  events: number;
  /** Deliveries made, in event order. */
  deliveries: NewDelivery[];
};

export async function dispatchWebhookEvents(
  db: Database,
  options: { batchSize: number; planner: DeliveryPlanner },
): Promise<DispatchStep> {
  const client = await db.pool.connect();
  try {
    await client.query('BEGIN');
    const cursor = await client.query<{ last: string }>(
      `SELECT last_event_id::text AS last FROM webhook_dispatch_cursor WHERE name = $1 FOR UPDATE`,
      [DISPATCH_CURSOR],
    );
    const after = BigInt(cursor.rows[0]?.last ?? '0');
    const events = await listEventsWithClient(client, { after, limit: options.batchSize });
    if (events.length === 0) {
      await client.query('COMMIT');
      return { events: 0, deliveries: [] };
    }
    const subscriptions = await listEnabledWebhooks(db);
    const deliveries: NewDelivery[] = [];
    for (const event of events)
      for (const subscription of options.planner(event, subscriptions))
        deliveries.push({
          id: randomUUID(),
          webhookId: subscription.id,
          eventId: event.id,
          eventType: event.type,
          rolloutId: event.rolloutId,
        });
    let inserted: NewDelivery[] = [];
    if (deliveries.length > 0) {
      const { rows } = await client.query<{ id: string }>(
        `INSERT INTO webhook_delivery (id, webhook_id, event_id, event_type, rollout_id, next_attempt_at)
         SELECT d.id::uuid, d.webhook_id::uuid, d.event_id::bigint, d.event_type, d.rollout_id::uuid, now()
         FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[]) AS d(id, webhook_id, event_id, event_type, rollout_id)
         ON CONFLICT (webhook_id, event_id) DO NOTHING
         RETURNING id::text AS id`,
        [
          deliveries.map((d) => d.id),
          deliveries.map((d) => d.webhookId),
          deliveries.map((d) => d.eventId.toString()),
          deliveries.map((d) => d.eventType),
          deliveries.map((d) => d.rolloutId),
        ],
      );
      const kept = new Set(rows.map((r) => r.id));
      inserted = deliveries.filter((d) => kept.has(d.id));
    }
    await client.query(
      `INSERT INTO webhook_dispatch_cursor (name, last_event_id, updated_at) VALUES ($1, $2::bigint, now())
       ON CONFLICT (name) DO UPDATE SET last_event_id = excluded.last_event_id, updated_at = now()`,
      [DISPATCH_CURSOR, events[events.length - 1]!.id.toString()],
    );
    await client.query('COMMIT');
    return { events: events.length, deliveries: inserted };
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}
