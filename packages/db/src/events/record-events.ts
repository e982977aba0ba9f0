import type { EventSource, NewFleetEvent } from '@fleet/rollout-domain';
import type pg from 'pg';
import type { Prisma } from '../generated/prisma/client.ts';

/**
 * Writing fleet events (the outbox): always inside the transaction of the change they report, as its last
 * statement, so an event exists if and only if its change committed.
 *
 * Ids follow commit order. A BIGSERIAL id is taken at insert, not at commit: without more, transaction A could take
 * id 9, B id 10, B commit first, and a reader that saw 10 and asks for `after=10` would never see 9. So the insert
 * first takes a transaction-scoped advisory lock (FLEET_EVENT_LOCK), held until commit or rollback: the next writer
 * takes its id only after the previous one has ended, and Postgres releases a transaction's locks after its commit
 * is visible, so when id N is visible every smaller id is visible or gone for good (rolled back: a gap, never a late
 * arrival). The cost is that event-writing transactions commit one at a time from their insert on, which is why the
 * insert is their last statement and why there is no event per attempt: events come a few per rollout change.
 *
 * In the same statement, pg_notify on FLEET_EVENTS_CHANNEL per rollout touched (payload FleetEventNotice): Postgres
 * delivers it at commit, to listeners in every process, and never for a transaction that rolled back.
 */

/** The channel every event is announced on (LISTEN fleet_events); the payload is a FleetEventNotice as JSON. */
export const FLEET_EVENTS_CHANNEL = 'fleet_events';

/** What a notice on FLEET_EVENTS_CHANNEL says: the highest event id of the commit for this rollout (as text). */
export type FleetEventNotice = { id: string; rolloutId: string | null };

/** The actor of changes written straight to the database rather than by an app (tests, benchmarks, tools). */
export const DIRECT_WRITER: EventSource = { actor: { kind: 'system', id: 'direct' } };

/** Key of the transaction-scoped advisory lock that puts event ids in commit order (any fixed number; 'FLEET' + 1). */
export const FLEET_EVENT_LOCK = 70_766_976_901;

/** One statement: the lock, the rows (in the order given), one notice per rollout. Returns the ids. */
const RECORD_EVENTS_SQL = `
  WITH locked AS MATERIALIZED (SELECT pg_advisory_xact_lock(${FLEET_EVENT_LOCK}::bigint)),
  inserted AS (
    INSERT INTO fleet_event (type, rollout_id, user_id, actor_kind, actor_id, actor_name, request_id, data)
    SELECT e.type, e.rollout_id::uuid, e.user_id, $1, $2, $3, $4, e.data::jsonb
    FROM locked, unnest($5::text[], $6::text[], $7::text[], $8::text[]) WITH ORDINALITY AS e(type, rollout_id, user_id, data, n)
    ORDER BY e.n
    RETURNING id, rollout_id
  ),
  notified AS (
    SELECT pg_notify('${FLEET_EVENTS_CHANNEL}', json_build_object('id', max(id)::text, 'rolloutId', rollout_id)::text)
    FROM inserted GROUP BY rollout_id
  )
  SELECT (SELECT count(*) FROM notified)::int AS notices, coalesce((SELECT array_agg(id ORDER BY id) FROM inserted), '{}') AS ids`;

/** The parameters of RECORD_EVENTS_SQL. */
function recordEventsValues(source: EventSource, events: readonly NewFleetEvent[]): unknown[] {
  const { actor } = source;
  return [
    actor.kind,
    actor.id,
    actor.kind === 'api_key' ? actor.name : null,
    source.requestId ?? null,
    events.map((e) => e.type),
    events.map((e) => e.rolloutId),
    events.map((e) => e.userId),
    events.map((e) => JSON.stringify(e.data)),
  ];
}

/** Writes `events` in `tx` (a Prisma interactive transaction). Call it last in the transaction. Returns their ids. */
export async function recordEvents(
  tx: Prisma.TransactionClient,
  source: EventSource,
  events: readonly NewFleetEvent[],
): Promise<bigint[]> {
  if (events.length === 0) return [];
  const rows = await tx.$queryRawUnsafe<{ ids: bigint[] }[]>(RECORD_EVENTS_SQL, ...recordEventsValues(source, events));
  return rows[0]?.ids ?? [];
}

/** recordEvents on a pg client that has a transaction open (BEGIN). */
export async function recordEventsWithClient(
  client: pg.ClientBase,
  source: EventSource,
  events: readonly NewFleetEvent[],
): Promise<bigint[]> {
  if (events.length === 0) return [];
  const { rows } = await client.query<{ ids: string[] }>(RECORD_EVENTS_SQL, recordEventsValues(source, events));
  return (rows[0]?.ids ?? []).map((id) => BigInt(id));
}
