import type { InstanceState } from '@fleet/rollout-domain';
import type { Database } from './client.ts';

export type InstanceRecord = {
  id: bigint;
  rolloutId: string;
  instanceId: string;
  state: InstanceState;
  attemptCount: number;
  lastOutcome: string | null;
  lastHttpStatus: number | null;
  lastErrorCode: string | null;
  lastErrorMessage: string | null;
  lastRequestId: string | null;
  nextAttemptAt: Date | null;
  needsManualInstall: boolean;
  manualInstallReason: string | null;
  createdAt: Date;
  updatedAt: Date;
  startedAt: Date | null;
  finishedAt: Date | null;
};

/** The install's verification after a successful NodeInstall (null: not applicable yet). */
export type InstanceVerification = {
  verification: string | null;
  agentStatus: string | null;
  verifiedAt: Date | null;
};

export type AttemptRecord = {
  id: bigint;
  attemptNo: number;
  /** `install` (NodeInstall) or `status_check` (skipInstalled's check before the first NodeInstall, attempt_no 0). */
  kind: 'install' | 'status_check';
  startedAt: Date;
  finishedAt: Date | null;
  durationMs: number | null;
  httpStatus: number | null;
  success: boolean | null;
  errorCode: string | null;
  errorMessage: string | null;
  requestId: string | null;
  outcome: string | null;
  outcomeKind: string | null;
  workerId: string | null;
  /** The InstallMonitoringAgent call the attempt was one instance of; null for NodeInstall and status checks. */
  callId: string | null;
};

/** An attempt with the instances its call named (InstanceIds.1..N order), null when it was no InstallMonitoringAgent call. */
export type AttemptWithCall = AttemptRecord & { callInstanceIds: string[] | null };

/** The times of an instance, for a page of instances: ISO 8601 text (UTC, milliseconds), as the API shows them. */
type InstanceTimes = 'nextAttemptAt' | 'createdAt' | 'updatedAt' | 'startedAt' | 'finishedAt';

/** An instance on a page of listInstances: an InstanceRecord whose times are already the text the API shows. */
export type InstancePageItem = Omit<InstanceRecord, InstanceTimes> & {
  [K in InstanceTimes]: null extends InstanceRecord[K] ? string | null : string;
};

export type InstancePage = { instances: InstancePageItem[]; nextCursor: bigint | null };

/** A timestamptz column as Date.prototype.toISOString writes it (the columns keep milliseconds). */
const isoText = (column: string) => `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;

/**
 * The columns of an InstancePageItem. The times come as the text the API shows, made by Postgres: parsing five
 * timestamps a row into Dates and writing them out again was a third of the API's CPU for a page of 100 (docs/
 * performance.md).
 */
const INSTANCE_PAGE_COLUMNS = `id, rollout_id::text AS "rolloutId", instance_id AS "instanceId", state::text AS "state",
  attempt_count AS "attemptCount", last_outcome AS "lastOutcome", last_http_status AS "lastHttpStatus",
  last_error_code AS "lastErrorCode", last_error_message AS "lastErrorMessage", last_request_id AS "lastRequestId",
  ${isoText('next_attempt_at')} AS "nextAttemptAt", needs_manual_install AS "needsManualInstall",
  manual_install_reason AS "manualInstallReason", ${isoText('created_at')} AS "createdAt",
  ${isoText('updated_at')} AS "updatedAt", ${isoText('started_at')} AS "startedAt",
  ${isoText('finished_at')} AS "finishedAt"`;

/**
 * One page of a rollout's instances in id order, optionally of one state. Keyset pagination on the
 * (rollout_id, state, id) / (rollout_id, id) indexes: page N costs the same as page 1 at 100,000 instances. Pollers
 * walk these pages: straight to pg, not through Prisma, whose per-query CPU was most of a page's cost to the API
 * (docs/performance.md). Through the functions fleet_instance_page and fleet_instance_page_in_state (migration
 * instance_page_function), which walk the index in order whatever the statistics say: as a plain statement, a rollout
 * the statistics did not know was estimated at a few dozen rows and every page fetched and sorted the whole rollout
 * (9 ms of Postgres CPU a page at 20,000 instances instead of 0.2). The outer ORDER BY sorts the page's rows only.
 */
export async function listInstances(
  db: Database,
  rolloutId: string,
  options: { state?: InstanceState; limit: number; after?: bigint },
): Promise<InstancePage> {
  const after = (options.after ?? 0n).toString();
  const { rows } = await db.pool.query<Omit<InstancePageItem, 'id'> & { id: string }>(
    options.state === undefined
      ? {
          name: 'fleet_list_instances',
          text: `SELECT ${INSTANCE_PAGE_COLUMNS} FROM fleet_instance_page($1::uuid, $2::bigint, $3::int) ORDER BY id`,
          values: [rolloutId, after, options.limit + 1],
        }
      : {
          name: 'fleet_list_instances_in_state',
          text: `SELECT ${INSTANCE_PAGE_COLUMNS} FROM fleet_instance_page_in_state($1::uuid, $2::"InstanceState", $3::bigint, $4::int) ORDER BY id`,
          values: [rolloutId, options.state, after, options.limit + 1],
        },
  );
  const hasMore = rows.length > options.limit;
  const instances = (hasMore ? rows.slice(0, options.limit) : rows).map((row) => ({ ...row, id: BigInt(row.id) }));
  return { instances, nextCursor: hasMore ? instances[instances.length - 1]!.id : null };
}

export async function findInstance(
  db: Database,
  rolloutId: string,
  instanceId: string,
): Promise<InstanceRecord | null> {
  return (await db.prisma.rolloutInstance.findUnique({
    where: { rolloutId_instanceId: { rolloutId, instanceId } },
  })) as InstanceRecord | null;
}

export async function findInstanceWithAttempts(
  db: Database,
  rolloutId: string,
  instanceId: string,
): Promise<(InstanceRecord & InstanceVerification & { attempts: AttemptWithCall[] }) | null> {
  const row = (await db.prisma.rolloutInstance.findUnique({
    where: { rolloutId_instanceId: { rolloutId, instanceId } },
    include: { attempts: { orderBy: { attemptNo: 'asc' } } },
  })) as (InstanceRecord & InstanceVerification & { attempts: AttemptRecord[] }) | null;
  if (!row) return null;
  const callIds = [...new Set(row.attempts.flatMap((a) => (a.callId === null ? [] : [a.callId])))];
  const members =
    callIds.length === 0
      ? []
      : await db.prisma.installAttempt.findMany({
          where: { callId: { in: callIds } },
          select: { callId: true, instance: { select: { instanceId: true } } },
        });
  const byCall = new Map<string, string[]>();
  for (const m of members) byCall.set(m.callId!, [...(byCall.get(m.callId!) ?? []), m.instance.instanceId]);
  // The order the call sent them in: by instance id (see claimInstallCall).
  for (const ids of byCall.values()) ids.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return {
    ...row,
    attempts: row.attempts.map((a) => ({
      ...a,
      callInstanceIds: a.callId === null ? null : (byCall.get(a.callId) ?? []),
    })),
  };
}

/** Instances of a rollout that are not final, in id order, `limit` at a time (for enqueueing and repairs). */
export async function listOpenInstanceIds(
  db: Database,
  rolloutId: string,
  options: { limit: number; after?: bigint },
): Promise<{ id: bigint; instanceId: string }[]> {
  return db.prisma.rolloutInstance.findMany({
    where: {
      rolloutId,
      state: { in: ['pending', 'in_progress'] },
      ...(options.after !== undefined ? { id: { gt: options.after } } : {}),
    },
    orderBy: { id: 'asc' },
    take: options.limit,
    select: { id: true, instanceId: true },
  });
}

/**
 * A rollout's instances in id order (the order they were listed when it was created), `pageSize` rows a page,
 * optionally only those of one wave: how the API hands a new rollout's first wave to the queue without holding all
 * its rows. Keyset pages in id order (the (rollout_id, id) index): page N costs what page 1 costs.
 */
export async function* iterateRolloutInstances(
  db: Pick<Database, 'pool'>,
  rolloutId: string,
  options: {
    pageSize: number;
    /** Size of the first page only (default pageSize): a small one gets the first rows to their consumer sooner. */
    firstPageSize?: number;
    waveNo?: number;
    /** Only instances still `pending`. */
    pendingOnly?: boolean;
  },
): AsyncGenerator<{ id: bigint; instanceId: string; waveNo: number }[], void, void> {
  // On pg directly, not Prisma's raw query: a page of 5,000 rows through Prisma's result mapping cost the API tens of
  // milliseconds of its event loop per page while it enqueued a large rollout, and every request waited behind them.
  const filters = [
    options.waveNo === undefined ? '' : 'AND wave_no = $4',
    options.pendingOnly ? "AND state = 'pending'" : '',
  ].join(' ');
  let after = 0n;
  for (let limit = options.firstPageSize ?? options.pageSize; ; limit = options.pageSize) {
    const values: unknown[] = [rolloutId, after.toString(), limit];
    if (options.waveNo !== undefined) values.push(options.waveNo);
    const { rows } = await db.pool.query<{ id: string; instance_id: string; wave_no: number }>(
      `SELECT id::text AS id, instance_id, wave_no FROM rollout_instance
       WHERE rollout_id = $1::uuid AND id > $2::bigint ${filters}
       ORDER BY rollout_instance.id LIMIT $3`, // the column, not the text alias: 100000 sorts before 99999 as text
      values,
    );
    if (rows.length > 0)
      yield rows.map((row) => ({ id: BigInt(row.id), instanceId: row.instance_id, waveNo: row.wave_no }));
    if (rows.length < limit) return;
    after = BigInt(rows[rows.length - 1]!.id);
  }
}
