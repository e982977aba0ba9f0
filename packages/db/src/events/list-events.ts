import type { EventActor, EventActorKind, FleetEventType } from '@fleet/rollout-domain';
import type pg from 'pg';
import type { Database } from '../client.ts';

/** A stored fleet event. `id` is the public, monotonically increasing event id (commit order, see record-events.ts). */
export type FleetEventRecord = {
  id: bigint;
  type: FleetEventType;
  rolloutId: string | null;
  userId: string | null;
  actor: EventActor;
  requestId: string | null;
  data: unknown;
  createdAt: Date;
};

export type FleetEventPage = {
  events: FleetEventRecord[];
  /** Pass as `after` for the next page; null when this page was the last (so far: later events come after it). */
  nextCursor: bigint | null;
};

export type ListEventsOptions = {
  /** One rollout's timeline. */
  rolloutId?: string;
  /**
   * The accounts the reader may see (null or absent: every account). An API key's events have no account of their
   * own: they are visible when every account the key is bound to is among these (an all-accounts key's events only
   * to a reader of every account), as an admin may manage exactly those keys.
   */
  userIds?: readonly string[] | null;
  /** One account's events (an API key's events when the key is bound to it). */
  userId?: string;
  actorKind?: EventActorKind;
  /** The API key's (or process's) id. */
  actorId?: string;
  type?: FleetEventType;
  /** Events with a greater id only (exclusive cursor). */
  after?: bigint;
  /** Most events returned; the caller bounds it. */
  limit: number;
};

type EventRow = {
  id: string;
  type: FleetEventType;
  rollout_id: string | null;
  user_id: string | null;
  actor_kind: EventActorKind;
  actor_id: string;
  actor_name: string | null;
  request_id: string | null;
  data: unknown;
  created_at: Date;
};

function actorOf(row: EventRow): EventActor {
  return row.actor_kind === 'api_key'
    ? { kind: 'api_key', id: row.actor_id, name: row.actor_name ?? '' }
    : { kind: row.actor_kind, id: row.actor_id };
}

function toRecord(row: EventRow): FleetEventRecord {
  return {
    id: BigInt(row.id),
    type: row.type,
    rolloutId: row.rollout_id,
    userId: row.user_id,
    actor: actorOf(row),
    requestId: row.request_id,
    data: row.data,
    createdAt: row.created_at,
  };
}

/**
 * Events oldest first (id order), filtered, after a cursor: a rollout's timeline, an audit trail, a stream's catch-up.
 * Keyset pagination on the id, served by the (rollout_id, id), (user_id, id) and (actor_id, id) indexes. Because ids
 * follow commit order, reading on from the last id seen never skips an event that commits later.
 */
export async function listEvents(db: Database, options: ListEventsOptions): Promise<FleetEventPage> {
  const rows = await listEventsWithClient(db.pool, { ...options, limit: options.limit + 1 });
  const hasMore = rows.length > options.limit;
  const events = hasMore ? rows.slice(0, options.limit) : rows;
  return { events, nextCursor: hasMore ? events[events.length - 1]!.id : null };
}

/** listEvents on a given pg client or pool (a transaction of the caller's), without paging: at most `limit` events. */
export async function listEventsWithClient(
  client: pg.ClientBase | pg.Pool,
  options: ListEventsOptions,
): Promise<FleetEventRecord[]> {
  const where: string[] = [];
  const values: unknown[] = [];
  const param = (value: unknown) => {
    values.push(value);
    return `$${values.length}`;
  };
  if (options.rolloutId !== undefined) where.push(`rollout_id = ${param(options.rolloutId)}::uuid`);
  if (options.userIds != null) {
    const visible = param([...options.userIds]);
    where.push(
      `(user_id = ANY(${visible}::text[]) OR (user_id IS NULL AND jsonb_array_length(data->'userIds') > 0` +
        ` AND (data->'userIds') <@ to_jsonb(${visible}::text[])))`,
    );
  }
  if (options.userId !== undefined) {
    const userId = param(options.userId);
    where.push(`(user_id = ${userId} OR (user_id IS NULL AND (data->'userIds') @> to_jsonb(ARRAY[${userId}::text])))`);
  }
  if (options.actorKind !== undefined) where.push(`actor_kind = ${param(options.actorKind)}`);
  if (options.actorId !== undefined) where.push(`actor_id = ${param(options.actorId)}`);
  if (options.type !== undefined) where.push(`type = ${param(options.type)}`);
  if (options.after !== undefined) where.push(`id > ${param(options.after.toString())}::bigint`);
  const limit = param(options.limit);
  // ORDER BY names the table's column: a bare `id` would be the output column, the id as text ('10' before '9').
  const { rows } = await client.query<EventRow>(
    `SELECT id::text AS id, type, rollout_id::text AS rollout_id, user_id, actor_kind, actor_id, actor_name, request_id,
            data, created_at
     FROM fleet_event ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''}
     ORDER BY fleet_event.id LIMIT ${limit}`,
    values,
  );
  return rows.map(toRecord);
}
