import { randomUUID } from 'node:crypto';
import type { EventSource, InstanceState, NewFleetEvent, RolloutStatus } from '@fleet/rollout-domain';
import { INSTANCE_STATES, decideRollout } from '@fleet/rollout-domain';
import type { Database } from './client.ts';
import { WaveSizesMismatchError } from './errors.ts';
import { DIRECT_WRITER, FLEET_EVENT_LOCK, FLEET_EVENTS_CHANNEL, recordEvents } from './events/record-events.ts';
import { Prisma } from './generated/prisma/client.ts';

export type InstanceCounts = { total: number } & Record<InstanceState, number>;

export type NewRollout = {
  userId: string;
  force: boolean;
  concurrency: number;
  maxAttempts: number;
  /** The normalised policy, stored whole. */
  policy: Prisma.InputJsonValue;
  /** Already validated and de-duplicated. */
  instanceIds: readonly string[];
  /** Wave sizes in instance order (see planWaveSizes); default one wave of everything. */
  waveSizes?: readonly number[];
  /**
   * Who made it, for its rollout.created event; an API key is also kept as the rollout's `createdByKeyId`. Default
   * DIRECT_WRITER: a rollout written straight to the database (tests, benchmarks), not by an app.
   */
  by?: EventSource;
  /** The rollout this one retries (POST /v1/rollouts/:id/retry): linked, with rollout.retried on its timeline. */
  parentRolloutId?: string | null;
  /**
   * `scheduled` (its policy's schedule holds a future startAt or windows: rollout.scheduled is written with it, and
   * the scheduler starts it) or `running` (default).
   */
  status?: 'running' | 'scheduled';
  /** With `scheduled`: when it may start calls (startAt), shown as nextWindowAt until the scheduler looks. */
  nextWindowAt?: Date | null;
};

export type InsertRolloutOptions = {
  /**
   * Runs first inside the rollout's transaction, with the new rollout's id: a write that must commit or roll back
   * together with the rollout (the Idempotency-Key record). Throwing aborts the whole insert.
   */
  inTransaction?: (tx: Prisma.TransactionClient, rolloutId: string) => Promise<void>;
};

export type RolloutRecord = {
  id: string;
  userId: string;
  force: boolean;
  status: RolloutStatus;
  statusReason: string | null;
  concurrency: number;
  maxAttempts: number;
  policy: unknown;
  totalInstances: number;
  enqueuedAt: Date | null;
  currentWave: number;
  waveCount: number;
  createdAt: Date;
  updatedAt: Date;
  finishedAt: Date | null;
  /** The rollout this one retries (POST /v1/rollouts/:id/retry); null for a first rollout. */
  parentRolloutId: string | null;
  /** Schedules: the latest moment a call may start (null: no bound), the next opening, the end and start-now. */
  callsUntil: Date | null;
  nextWindowAt: Date | null;
  scheduleEndedAt: Date | null;
  startNowUntil: Date | null;
  /** The API key that created it (null: made another way); read where a listing shows it. */
  createdByKeyId?: string | null;
};

/**
 * Instance rows per INSERT statement. The ids travel as one parameter, so a chunk is one round trip; 5,000 (about
 * 100 KB of JSON) keeps each statement's copies in the API small, and a 100,000-instance rollout is 20 statements.
 * Bigger chunks save almost nothing: per-row index and counter maintenance in Postgres is the cost.
 */
export const INSERT_CHUNK = 5_000;

type InstanceRow = { id: bigint; instanceId: string; waveNo: number };

/** The wave of each of the `count` instances from position `start` on, given wave sizes in instance order. */
function waveNumbers(waveSizes: readonly number[], start: number, count: number): number[] {
  const waves = new Array<number>(count);
  let wave = 0;
  let waveEnd = waveSizes[0] ?? 0;
  for (let position = start, i = 0; i < count; position++, i++) {
    while (position >= waveEnd && wave < waveSizes.length - 1) waveEnd += waveSizes[++wave]!;
    waves[i] = wave + 1;
  }
  return waves;
}

/** The rollout's wave sizes (default: one wave of everything); throws when they do not add up to its instances. */
function waveSizesOf(rollout: NewRollout): readonly number[] {
  const total = rollout.instanceIds.length;
  const waveSizes = rollout.waveSizes && rollout.waveSizes.length > 0 ? rollout.waveSizes : [total];
  const inWaves = waveSizes.reduce((sum, size) => sum + size, 0);
  if (inWaves !== total) throw new WaveSizesMismatchError(total, inWaves);
  return waveSizes;
}

/**
 * The rollout row and its instance rows, in `tx`, INSERT_CHUNK instances per statement.
 * `onRows`, when given, receives each chunk's rows (RETURNING); without it nothing per instance comes back, so a
 * rollout of any size costs the caller the memory of one chunk.
 */
async function insertRolloutRows(
  tx: Prisma.TransactionClient,
  id: string,
  rollout: NewRollout,
  waveSizes: readonly number[],
  options: InsertRolloutOptions,
  onRows?: (rows: InstanceRow[]) => void,
): Promise<RolloutRecord> {
  const total = rollout.instanceIds.length;
  const by = rollout.by ?? DIRECT_WRITER;
  // The account's row (when it has one) is held until this commits: deleteAccount locks it FOR UPDATE before it
  // counts the account's open rollouts, so a delete and this insert take turns, and a delete never misses a rollout
  // being made (which would then run without the account it was made for). KEY SHARE rather than SHARE: an account's
  // PATCH (a plain UPDATE) need not wait for a large insert; only a delete (or FOR UPDATE) does.
  await tx.$queryRaw`SELECT 1 FROM account WHERE user_id = ${rollout.userId} FOR KEY SHARE`;
  await options.inTransaction?.(tx, id);
  const created = await tx.rollout.create({
    data: {
      id,
      userId: rollout.userId,
      force: rollout.force,
      concurrency: rollout.concurrency,
      maxAttempts: rollout.maxAttempts,
      policy: rollout.policy,
      totalInstances: total,
      waveCount: waveSizes.length,
      createdByKeyId: by.actor.kind === 'api_key' ? by.actor.id : null,
      parentRolloutId: rollout.parentRolloutId ?? null,
      status: rollout.status ?? 'running',
      nextWindowAt: rollout.nextWindowAt ?? null,
    },
  });
  for (let start = 0; start < total; start += INSERT_CHUNK) {
    // Each chunk's ids and waves travel as one JSON text each, not as arrays of 5,000 elements: Prisma converts an
    // array argument element by element, and a heap snapshot of the API after a 100,000-instance insert still
    // reached every chunk's array from Prisma's Wasm bindings (100,000 strings). One string per chunk costs less
    // CPU in the API (measured: about half) and leaves little behind.
    const ids = JSON.stringify(rollout.instanceIds.slice(start, start + INSERT_CHUNK));
    const waves = JSON.stringify(waveNumbers(waveSizes, start, Math.min(INSERT_CHUNK, total - start)));
    if (onRows) {
      const rows = await tx.$queryRaw<{ id: bigint; instance_id: string; wave_no: number }[]>`
        INSERT INTO rollout_instance (rollout_id, instance_id, wave_no)
        SELECT ${id}::uuid, t.instance_id, t.wave_no::int
        FROM ROWS FROM (json_array_elements_text(${ids}::json), json_array_elements_text(${waves}::json)) AS t(instance_id, wave_no)
        RETURNING id, instance_id, wave_no`;
      onRows(rows.map((row) => ({ id: row.id, instanceId: row.instance_id, waveNo: row.wave_no })));
    } else {
      await tx.$executeRaw`
        INSERT INTO rollout_instance (rollout_id, instance_id, wave_no)
        SELECT ${id}::uuid, t.instance_id, t.wave_no::int
        FROM ROWS FROM (json_array_elements_text(${ids}::json), json_array_elements_text(${waves}::json)) AS t(instance_id, wave_no)`;
    }
  }
  await recordEvents(tx, by, creationEvents(created as RolloutRecord));
  return created as RolloutRecord;
}

/** rollout.created (and wave 1's rollout.wave_started when there are waves), and rollout.retried on the parent's. */
function creationEvents(rollout: RolloutRecord): NewFleetEvent[] {
  const about = { rolloutId: rollout.id, userId: rollout.userId };
  const events: NewFleetEvent[] = [
    {
      ...about,
      type: 'rollout.created',
      data: {
        totalInstances: rollout.totalInstances,
        waveCount: rollout.waveCount,
        concurrency: rollout.concurrency,
        maxAttempts: rollout.maxAttempts,
        force: rollout.force,
        parentRolloutId: rollout.parentRolloutId,
      },
    },
  ];
  if (rollout.status === 'scheduled')
    events.push({
      ...about,
      type: 'rollout.scheduled',
      data: { nextWindowAt: rollout.nextWindowAt?.toISOString() ?? null },
    });
  if (rollout.waveCount > 1)
    events.push({ ...about, type: 'rollout.wave_started', data: { wave: 1, waveCount: rollout.waveCount } });
  if (rollout.parentRolloutId !== null)
    events.push({
      type: 'rollout.retried',
      rolloutId: rollout.parentRolloutId,
      userId: rollout.userId,
      data: { childRolloutId: rollout.id, instances: rollout.totalInstances },
    });
  return events;
}

/**
 * `timeout`: a large insert takes a while (100,000 instances are one to two seconds of Postgres work on the 2-core
 * reference machine, more under load). `maxWait`: how long to wait for a pooled connection to start it. Both ms.
 */
const INSERT_TRANSACTION = { timeout: 120_000, maxWait: 10_000 };

/**
 * Records a rollout and all its instances in one transaction: either the whole rollout exists or none of it.
 * Instances go in INSERT_CHUNK at a time, a few statements for any size rather than one per instance, and nothing
 * per instance comes back: memory stays that of one chunk whatever the size. Read
 * the rows afterwards page by page (iterateRolloutInstances), e.g. to enqueue them.
 */
export async function recordRollout(
  db: Database,
  rollout: NewRollout,
  options: InsertRolloutOptions = {},
): Promise<RolloutRecord> {
  const id = randomUUID();
  const waveSizes = waveSizesOf(rollout);
  return db.prisma.$transaction((tx) => insertRolloutRows(tx, id, rollout, waveSizes, options), INSERT_TRANSACTION);
}

/**
 * recordRollout, also returning every instance row (id order, which is the order of `instanceIds`). Holds all of
 * them in memory at once: for small rollouts and tests; the API creates rollouts with recordRollout.
 */
export async function insertRollout(
  db: Database,
  rollout: NewRollout,
  options: InsertRolloutOptions = {},
): Promise<{ rollout: RolloutRecord; instances: InstanceRow[] }> {
  const id = randomUUID();
  const waveSizes = waveSizesOf(rollout);
  return db.prisma.$transaction(async (tx) => {
    const instances: InstanceRow[] = [];
    const record = await insertRolloutRows(tx, id, rollout, waveSizes, options, (rows) => {
      for (const row of rows) instances.push(row);
    });
    return { rollout: record, instances };
  }, INSERT_TRANSACTION);
}

/**
 * A rollout by id. Every request about a rollout reads it (tenancy, then the route), pollers many times a second:
 * straight to pg as a prepared statement rather than through Prisma (see findActiveApiKeyByHash).
 */
export async function findRollout(db: Database, id: string): Promise<RolloutRecord | null> {
  const { rows } = await db.pool.query<RolloutRecord>({
    name: 'fleet_find_rollout',
    text: `SELECT id::text AS "id", user_id AS "userId", force AS "force", status::text AS "status",
        status_reason AS "statusReason", concurrency AS "concurrency", max_attempts AS "maxAttempts", policy AS "policy",
        total_instances AS "totalInstances", enqueued_at AS "enqueuedAt", current_wave AS "currentWave",
        wave_count AS "waveCount", created_at AS "createdAt", updated_at AS "updatedAt", finished_at AS "finishedAt",
        parent_rollout_id::text AS "parentRolloutId", calls_until AS "callsUntil", next_window_at AS "nextWindowAt",
        schedule_ended_at AS "scheduleEndedAt", start_now_until AS "startNowUntil"
      FROM rollout WHERE id = $1::uuid`,
    values: [id],
  });
  return rows[0] ?? null;
}

/**
 * Marks the rollout's first wave handed to Redis (once: a rollout already marked is left as it is), with its
 * updated_at, as Prisma's @updatedAt did. Every POST /v1/rollouts ends with it: a prepared statement rather than
 * Prisma, whose query compiler cost the API about a millisecond of CPU a call (the reads bench's five creators).
 */
export async function markRolloutEnqueued(db: Database, id: string): Promise<void> {
  await db.pool.query({
    name: 'fleet_mark_rollout_enqueued',
    text: `UPDATE rollout SET enqueued_at = $2, updated_at = $2 WHERE id = $1::uuid AND enqueued_at IS NULL`,
    values: [id, new Date()],
  });
}

/**
 * Counts per instance state, read from rollout_state_count: a few rows whatever the rollout's size. Triggers keep
 * those counters in the transaction of every instance write (migration rollout_state_counts), so they are exactly
 * what counting the rollout's rows would give.
 */
export async function countInstances(db: Database, rolloutId: string): Promise<InstanceCounts> {
  const { rows } = await db.pool.query<{ state: InstanceState; n: number }>({
    name: 'fleet_count_instances',
    text: `SELECT state::text AS state, n FROM rollout_state_count WHERE rollout_id = $1::uuid`,
    values: [rolloutId],
  });
  return instanceCountsOf(rows);
}

/** Counts per state (every state, 0 where no row) and their total, from rollout_state_count rows. */
export function instanceCountsOf(rows: Iterable<{ state: InstanceState; n: number | string }>): InstanceCounts {
  const counts = Object.fromEntries(INSTANCE_STATES.map((s) => [s, 0])) as InstanceCounts;
  counts.total = 0;
  for (const row of rows) {
    counts[row.state] = Number(row.n);
    counts.total += Number(row.n);
  }
  return counts;
}

export async function listRolloutsByStatus(db: Database, statuses: RolloutStatus[]): Promise<RolloutRecord[]> {
  return (await db.prisma.rollout.findMany({
    where: { status: { in: statuses } },
    orderBy: { createdAt: 'asc' },
  })) as RolloutRecord[];
}

/**
 * Open rollouts as a worker pool needs them (id and concurrency, oldest first), for its poll every ROLLOUT_POLL_MS.
 * Straight to pg as a prepared statement: through Prisma each poll costs the worker about a millisecond of CPU.
 */
export async function listOpenRolloutsForWork(
  db: Database,
): Promise<{ id: string; concurrency: number; instancesPerCall: number }[]> {
  const { rows } = await db.pool.query<{ id: string; concurrency: number; instances_per_call: number }>({
    name: 'fleet_open_rollouts_for_work_v2',
    // Not scheduled or waiting_for_window ones: no call may start, so their jobs stay in Redis untouched until then.
    // InstallMonitoringAgent (policy.driver) names up to 10 instances per call, NodeInstall one.
    text: `SELECT id::text AS id, concurrency,
             CASE WHEN policy->>'driver' = 'install-monitoring-agent' THEN 10 ELSE 1 END AS instances_per_call
           FROM rollout WHERE status IN ('running', 'paused') ORDER BY created_at`,
  });
  return rows.map((r) => ({ id: r.id, concurrency: r.concurrency, instancesPerCall: r.instances_per_call }));
}

/**
 * Open (running or paused) rollouts of the given accounts (null: every account), oldest first: the rollouts whose
 * queues the API's queue board shows.
 */
export async function listOpenRolloutsOfAccounts(
  db: Database,
  userIds: readonly string[] | null,
): Promise<{ id: string; userId: string; status: RolloutStatus }[]> {
  return (await db.prisma.rollout.findMany({
    where: {
      status: { in: ['running', 'paused', 'scheduled', 'waiting_for_window'] },
      ...(userIds === null ? {} : { userId: { in: [...userIds] } }),
    },
    select: { id: true, userId: true, status: true },
    orderBy: { createdAt: 'asc' },
  })) as { id: string; userId: string; status: RolloutStatus }[];
}

/**
 * Moves a rollout to `completed` when none of its instances is open any more, with its rollout.completed event (the
 * instances per state) in the same statement, hence the same transaction. A single guarded statement: safe to call
 * from every worker after every final transition, and only the first caller that sees the last instance final
 * changes anything (the others write nothing, not even the event). Returns true if this call completed it. "None
 * open" is read from rollout_state_count, so the check costs the same at 100 instances as at 100,000. Workers ask
 * this many times a second while a rollout runs, so it goes to pg as one prepared statement rather than through
 * Prisma and a transaction (see listOpenRolloutsForWork); the event part is events/record-events.ts's, inlined:
 * the advisory lock (taken only when the rollout did complete), the row and its notice.
 */
export async function completeRolloutIfDone(db: Database, rolloutId: string, by: EventSource): Promise<boolean> {
  return (await checkRolloutDone(db, rolloutId, by)).completed;
}

/**
 * completeRolloutIfDone, which also answers how many of the rollout's instances are still open (pending or
 * in_progress) as the statement saw them: 0 once completed, or when another caller completed it.
 */
export async function checkRolloutDone(
  db: Database,
  rolloutId: string,
  by: EventSource,
): Promise<{ completed: boolean; open: number }> {
  const from = (['running', 'paused', 'waiting_for_window'] as const).filter(
    (s) => decideRollout(s, { type: 'all_instances_final' }).type === 'transition',
  );
  const { rows } = await db.pool.query<{ completed: number; open: number }>({
    name: 'fleet_complete_rollout_if_done_v2',
    text: `WITH done AS (
        UPDATE rollout SET status = 'completed', finished_at = now(), updated_at = now()
        WHERE id = $1::uuid AND status::text = ANY($2::text[])
          AND NOT EXISTS (
            SELECT 1 FROM rollout_state_count
            WHERE rollout_id = $1::uuid AND state IN ('pending', 'in_progress') AND n > 0)
        RETURNING id, user_id
      ),
      locked AS MATERIALIZED (SELECT pg_advisory_xact_lock(${FLEET_EVENT_LOCK}::bigint) FROM done),
      inserted AS (
        INSERT INTO fleet_event (type, rollout_id, user_id, actor_kind, actor_id, actor_name, request_id, data)
        SELECT 'rollout.completed', done.id, done.user_id, $3, $4, $5, $6, jsonb_build_object('counts', (
          SELECT coalesce(jsonb_object_agg(c.state::text, c.n), '{}'::jsonb) FROM rollout_state_count c
          WHERE c.rollout_id = $1::uuid AND c.n > 0))
        FROM done, locked
        RETURNING id, rollout_id
      ),
      notified AS (
        SELECT pg_notify('${FLEET_EVENTS_CHANNEL}', json_build_object('id', id::text, 'rolloutId', rollout_id)::text)
        FROM inserted
      )
      SELECT (SELECT count(*) FROM done)::int AS completed, (SELECT count(*) FROM notified)::int AS notices,
        (SELECT coalesce(sum(n), 0) FROM rollout_state_count
         WHERE rollout_id = $1::uuid AND state IN ('pending', 'in_progress'))::int AS open`,
    values: [
      rolloutId,
      from,
      by.actor.kind,
      by.actor.id,
      by.actor.kind === 'api_key' ? by.actor.name : null,
      by.requestId ?? null,
    ],
  });
  const completed = (rows[0]?.completed ?? 0) > 0;
  return { completed, open: completed ? 0 : (rows[0]?.open ?? 0) };
}
