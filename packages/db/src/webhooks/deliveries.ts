import type { Database } from '../client.ts';
import type { FleetEventRecord } from '../events/list-events.ts';
import { listEventsWithClient } from '../events/list-events.ts';
import type { WebhookRecord } from './subscriptions.ts';
import { findWebhook } from './subscriptions.ts';

/**
 * Deliveries (one message: an event for a subscription) and their attempts: what the notifier reads before an
 * attempt and writes after it, and what the delivery log (GET /v1/webhooks/:id/deliveries) shows. Postgres is the
 * record; a BullMQ job only says "attempt this delivery now", so a lost job is re-driven from here.
 */

export type WebhookDeliveryStatusName = 'pending' | 'delivered' | 'failed';

export type WebhookDeliveryRecord = {
  id: string;
  webhookId: string;
  eventId: bigint;
  eventType: string;
  rolloutId: string | null;
  status: WebhookDeliveryStatusName;
  attempts: number;
  nextAttemptAt: Date | null;
  lastAttemptAt: Date | null;
  deliveredAt: Date | null;
  createdAt: Date;
};

export type WebhookAttemptRecord = {
  attemptNo: number;
  startedAt: Date;
  latencyMs: number;
  httpStatus: number | null;
  outcome: string;
  responseExcerpt: string | null;
  nextRetryAt: Date | null;
};

export type DeliveryWithAttempts = WebhookDeliveryRecord & { attemptLog: WebhookAttemptRecord[] };

export async function findDelivery(db: Database, id: string): Promise<WebhookDeliveryRecord | null> {
  return (await db.prisma.webhookDelivery.findUnique({ where: { id } })) as WebhookDeliveryRecord | null;
}

/** What an attempt needs: the delivery, its subscription and its event; null when any of them is gone. */
export async function loadDeliveryForAttempt(
  db: Database,
  id: string,
): Promise<{ delivery: WebhookDeliveryRecord; webhook: WebhookRecord; event: FleetEventRecord } | null> {
  const delivery = await findDelivery(db, id);
  if (!delivery) return null;
  const [webhook, events] = await Promise.all([
    findWebhook(db, delivery.webhookId),
    listEventsWithClient(db.pool, { after: delivery.eventId - 1n, limit: 1 }),
  ]);
  const event = events[0];
  if (!webhook || !event || event.id !== delivery.eventId) return null;
  return { delivery, webhook, event };
}

/**
 * True when an earlier message of the same subscription and rollout has not had its first attempt answered yet: this
 * one waits for it, so that a receiver gets a rollout's events in event order. One that already failed and waits for
 * a retry does not hold the later ones back (a receiver down for hours would otherwise stop every rollout's news).
 */
export async function hasEarlierUnattemptedDelivery(db: Database, delivery: WebhookDeliveryRecord): Promise<boolean> {
  if (delivery.rolloutId === null) return false;
  const { rows } = await db.pool.query<{ waiting: boolean }>({
    name: 'fleet_webhook_earlier_unattempted',
    text: `SELECT EXISTS (SELECT 1 FROM webhook_delivery WHERE webhook_id = $1::uuid AND rollout_id = $2::uuid
             AND event_id < $3::bigint AND status = 'pending' AND attempts = 0) AS waiting`,
    values: [delivery.webhookId, delivery.rolloutId, delivery.eventId.toString()],
  });
  return rows[0]?.waiting === true;
}

/**
 * Takes the delivery for one attempt before it is sent: a guarded write on where it stands (pending, `attempts`
 * attempts made) and on no other attempt holding it, leasing it for `leaseMs` (longer than an attempt's timeout).
 * False when another attempt holds it or it moved on: this one must not send. recordDeliveryAttempt ends the lease;
 * an attempt that never records (its notifier died) holds it only until the lease runs out. Postgres's clock.
 */
export async function claimDeliveryAttempt(
  db: Database,
  delivery: { id: string; attempts: number },
  leaseMs: number,
): Promise<boolean> {
  const { rowCount } = await db.pool.query(
    `UPDATE webhook_delivery SET attempt_lease_until = now() + $3::int * interval '1 millisecond'
     WHERE id = $1::uuid AND status = 'pending' AND attempts = $2
       AND (attempt_lease_until IS NULL OR attempt_lease_until <= now())`,
    [delivery.id, delivery.attempts, Math.ceil(leaseMs)],
  );
  return rowCount === 1;
}

export type FinishedAttempt = {
  deliveryId: string;
  webhookId: string;
  /** 1 for the first attempt: the delivery's `attempts` before it, plus one. */
  attemptNo: number;
  startedAt: Date;
  latencyMs: number;
  httpStatus: number | null;
  outcome: string;
  responseExcerpt: string | null;
  /** Where the delivery stands after it. */
  status: WebhookDeliveryStatusName;
  /** When the next attempt is due (pending), else null. */
  nextAttemptAt: Date | null;
};

/**
 * Records an attempt and where its delivery now stands, and the subscription's run of failures (cleared by a
 * success, begun by the first failure after one), in one transaction. A guarded write on the delivery's attempt
 * count: false when another worker already recorded this attempt (a job run twice), and nothing is written.
 */
export async function recordDeliveryAttempt(db: Database, attempt: FinishedAttempt): Promise<boolean> {
  const client = await db.pool.connect();
  try {
    await client.query('BEGIN');
    const updated = await client.query(
      `UPDATE webhook_delivery SET attempts = $2, status = $3::"WebhookDeliveryStatus", next_attempt_at = $4,
              last_attempt_at = $5, delivered_at = CASE WHEN $3 = 'delivered' THEN now() ELSE delivered_at END,
              attempt_lease_until = NULL
       WHERE id = $1::uuid AND attempts = $2 - 1`,
      [attempt.deliveryId, attempt.attemptNo, attempt.status, attempt.nextAttemptAt, attempt.startedAt],
    );
    if (updated.rowCount === 0) {
      await client.query('ROLLBACK');
      return false;
    }
    await client.query(
      `INSERT INTO webhook_delivery_attempt
         (delivery_id, attempt_no, started_at, latency_ms, http_status, outcome, response_excerpt, next_retry_at)
       VALUES ($1::uuid, $2, $3, $4, $5, $6, $7, $8)`,
      [
        attempt.deliveryId,
        attempt.attemptNo,
        attempt.startedAt,
        attempt.latencyMs,
        attempt.httpStatus,
        attempt.outcome,
        attempt.responseExcerpt,
        attempt.nextAttemptAt,
      ],
    );
    await client.query(
      attempt.outcome === 'delivered'
        ? `UPDATE webhook SET failing_since = NULL WHERE id = $1::uuid AND failing_since IS NOT NULL`
        : `UPDATE webhook SET failing_since = $2 WHERE id = $1::uuid AND failing_since IS NULL`,
      attempt.outcome === 'delivered' ? [attempt.webhookId] : [attempt.webhookId, attempt.startedAt],
    );
    await client.query('COMMIT');
    return true;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}

/**
 * Pending messages of enabled subscriptions due before `dueBefore`, soonest first: what the re-drive hands to the
 * queue again (a job that is still there makes that a no-op).
 */
export async function listDueDeliveries(
  db: Database,
  options: { dueBefore: Date; limit: number },
): Promise<{ id: string; nextAttemptAt: Date }[]> {
  const { rows } = await db.pool.query<{ id: string; next_attempt_at: Date }>(
    `SELECT d.id::text AS id, d.next_attempt_at FROM webhook_delivery d JOIN webhook w ON w.id = d.webhook_id
     WHERE d.status = 'pending' AND d.next_attempt_at <= $1 AND w.enabled
     ORDER BY d.next_attempt_at LIMIT $2`,
    [options.dueBefore, options.limit],
  );
  return rows.map((r) => ({ id: r.id, nextAttemptAt: r.next_attempt_at }));
}

export type RedeliveryResult =
  | { kind: 'marked'; delivery: WebhookDeliveryRecord }
  /** An attempt of it is being made now (claimDeliveryAttempt's lease): nothing was changed. */
  | { kind: 'in_flight'; leaseUntil: Date }
  | { kind: 'missing' };

/**
 * One more attempt of a message, now (POST .../redeliver): pending again, with the same id. A guarded write on no
 * attempt being in flight: while one is, the message is left as it is and `in_flight` answered (the API's 409), since
 * the attempt's outcome is about to be recorded and a redelivery beside it would race it (its record would overwrite
 * the request, or a second send would go out beside the first). Postgres's clock, as the claim's.
 */
export async function markForRedelivery(
  db: Database,
  webhookId: string,
  deliveryId: string,
): Promise<RedeliveryResult> {
  const { rowCount } = await db.pool.query(
    `UPDATE webhook_delivery SET status = 'pending', next_attempt_at = now()
     WHERE id = $1::uuid AND webhook_id = $2::uuid AND (attempt_lease_until IS NULL OR attempt_lease_until <= now())`,
    [deliveryId, webhookId],
  );
  if (rowCount === 1) {
    const delivery = await findDelivery(db, deliveryId);
    if (delivery) return { kind: 'marked', delivery };
  }
  const { rows } = await db.pool.query<{ lease: Date | null }>(
    `SELECT attempt_lease_until AS lease FROM webhook_delivery WHERE id = $1::uuid AND webhook_id = $2::uuid`,
    [deliveryId, webhookId],
  );
  const lease = rows[0]?.lease;
  return lease ? { kind: 'in_flight', leaseUntil: lease } : { kind: 'missing' };
}

/**
 * A subscription's delivery log, newest event first, each message with its attempts; `before` is the cursor (the
 * last page's last event id).
 */
export async function listDeliveries(
  db: Database,
  webhookId: string,
  options: { status?: WebhookDeliveryStatusName; before?: bigint; limit: number },
): Promise<{ deliveries: DeliveryWithAttempts[]; nextCursor: bigint | null }> {
  const rows = (await db.prisma.webhookDelivery.findMany({
    where: {
      webhookId,
      ...(options.status ? { status: options.status } : {}),
      ...(options.before !== undefined ? { eventId: { lt: options.before } } : {}),
    },
    orderBy: { eventId: 'desc' },
    take: options.limit + 1,
    include: { attemptsMade: { orderBy: { attemptNo: 'asc' } } },
  })) as (WebhookDeliveryRecord & { attemptsMade: WebhookAttemptRecord[] })[];
  const hasMore = rows.length > options.limit;
  const page = hasMore ? rows.slice(0, options.limit) : rows;
  return {
    deliveries: page.map(({ attemptsMade, ...delivery }) => ({
      ...delivery,
      attemptLog: attemptsMade.map((a) => ({
        attemptNo: a.attemptNo,
        startedAt: a.startedAt,
        latencyMs: a.latencyMs,
        httpStatus: a.httpStatus,
        outcome: a.outcome,
        responseExcerpt: a.responseExcerpt,
        nextRetryAt: a.nextRetryAt,
      })),
    })),
    nextCursor: hasMore ? page[page.length - 1]!.eventId : null,
  };
}
