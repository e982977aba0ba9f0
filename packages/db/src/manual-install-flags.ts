import type { EventSource, ManualFlagAction, ManualFlagEvent, ManualFlagStatus } from '@fleet/rollout-domain';
import { decideManualFlag } from '@fleet/rollout-domain';
import type { Database } from './client.ts';
import { GuardedWriteRaceError } from './errors.ts';
import type { Prisma } from './generated/prisma/client.ts';
import type { FlagNeed, FlagRaiseCounts } from './manual-install-flag-raise.ts';
import { RECONCILER_SOURCE, countFlagRaises, raiseFlagsForHosts } from './manual-install-flag-raise.ts';
import { DIRECT_WRITER, recordEvents } from './events/record-events.ts';

/**
 * Manual-install flags: one per host (account UserId + instance id) that needs a person to install the agent by
 * hand, carried across the rollouts that fail on it, with its history. The reconciler raises them
 * (manual-install-flag-raise.ts); operators move them through the state machine in @fleet/rollout-domain
 * (manual-install-flag.ts), every move a guarded write plus an event row in one transaction.
 */

export type ManualInstallFlagRecord = {
  id: bigint;
  /** The rollout instance it was last raised for. */
  rolloutInstanceId: bigint;
  /** The latest rollout it was raised in. */
  rolloutId: string;
  /** Every rollout it was raised or carried in, oldest first (the last is `rolloutId`). */
  rolloutIds: string[];
  userId: string;
  instanceId: string;
  reason: string;
  detail: string | null;
  lastRequestId: string | null;
  status: ManualFlagStatus;
  note: string | null;
  createdAt: Date;
  updatedAt: Date;
  acknowledgedAt: Date | null;
  acknowledgedBy: string | null;
  resolvedAt: Date | null;
  resolvedBy: string | null;
};

export type ManualInstallFlagEventRecord = {
  id: bigint;
  flagId: bigint;
  at: Date;
  action: string;
  actor: string | null;
  note: string | null;
  detail: unknown;
};

/** Most rollout instances looked at per transaction; the sweep repeats until one finds fewer. */
const RAISE_CHUNK = 5000;

/** A sweep's transaction: `timeout` for a chunk's few statements under load, `maxWait` for a pooled connection (ms). */
const RAISE_TRANSACTION = { timeout: 60_000, maxWait: 10_000 };

/** Includes a flag's rollouts, in the order it was raised in them. */
const WITH_ROLLOUTS = {
  occurrences: { select: { rolloutId: true }, orderBy: [{ at: 'asc' }, { rolloutInstanceId: 'asc' }] },
} satisfies Prisma.ManualInstallFlagInclude;

type FlagRow = Omit<ManualInstallFlagRecord, 'rolloutIds'> & { occurrences: { rolloutId: string }[] };

function toRecord({ occurrences, ...flag }: FlagRow): ManualInstallFlagRecord {
  return { ...flag, rolloutIds: [...new Set(occurrences.map((o) => o.rolloutId))] };
}

/**
 * Gives every instance of the rollout that needs a manual install (failed installs, the worker set the reason; and
 * failed verifications) and has no flag yet its host's flag: the host's current one, kept across rollouts (a
 * `reflagged` history entry, or `reopened` for a resolved one), or a new open one with a `flagged` entry. Safe to
 * run from two reconcilers at once: the rollout instance rows are locked (rows another transaction holds are left
 * to the next pass) and each gets one occurrence. Returns how many flags were raised, kept and reopened.
 */
export async function raiseMissingManualInstallFlags(
  db: Database,
  rolloutId: string,
  now: Date = new Date(),
  by: EventSource = RECONCILER_SOURCE,
): Promise<FlagRaiseCounts> {
  const total: FlagRaiseCounts = { flagged: 0, reflagged: 0, reopened: 0 };
  for (;;) {
    const { found, counts } = await db.prisma.$transaction(async (tx) => {
      const rows = await tx.$queryRaw<
        {
          id: bigint;
          rollout_id: string;
          parent_rollout_id: string | null;
          user_id: string;
          instance_id: string;
          state: string;
          reason: string;
          detail: string | null;
          last_request_id: string | null;
          attempt_count: number;
        }[]
      >`
        SELECT ri.id, ri.rollout_id::text AS rollout_id, r.parent_rollout_id::text AS parent_rollout_id, r.user_id,
               ri.instance_id, ri.state::text AS state, coalesce(ri.manual_install_reason, 'rejected') AS reason,
               left(nullif(concat_ws(': ', ri.last_error_code, ri.last_error_message), ''), 2000) AS detail,
               ri.last_request_id, ri.attempt_count
        FROM rollout_instance ri JOIN rollout r ON r.id = ri.rollout_id
        WHERE ri.rollout_id = ${rolloutId}::uuid AND ri.state IN ('failed', 'succeeded') AND ri.needs_manual_install
          AND NOT EXISTS (SELECT 1 FROM manual_install_flag_occurrence o WHERE o.rollout_instance_id = ri.id)
        ORDER BY ri.id
        LIMIT ${RAISE_CHUNK}
        FOR UPDATE OF ri SKIP LOCKED`;
      if (rows.length === 0) return { found: 0, counts: countFlagRaises([]) };
      // An occurrence committed after this transaction's first snapshot but before the lock was free: this statement
      // sees it, and with the rows locked no other can appear.
      const taken = await tx.manualInstallFlagOccurrence.findMany({
        where: { rolloutInstanceId: { in: rows.map((r) => r.id) } },
        select: { rolloutInstanceId: true },
      });
      const takenIds = new Set(taken.map((t) => t.rolloutInstanceId));
      const needs: FlagNeed[] = rows
        .filter((r) => !takenIds.has(r.id))
        .map((r) => ({
          rolloutInstanceId: r.id,
          rolloutId: r.rollout_id,
          parentRolloutId: r.parent_rollout_id,
          userId: r.user_id,
          instanceId: r.instance_id,
          reason: r.reason,
          detail: r.detail,
          lastRequestId: r.last_request_id,
          attemptCount: r.attempt_count,
          history: { source: r.state === 'failed' ? 'install' : 'verification' },
        }));
      return { found: rows.length, counts: countFlagRaises(await raiseFlagsForHosts(tx, needs, now, by)) };
    }, RAISE_TRANSACTION);
    total.flagged += counts.flagged;
    total.reflagged += counts.reflagged;
    total.reopened += counts.reopened;
    const progressed = counts.flagged + counts.reflagged + counts.reopened > 0;
    // Fewer than a chunk: every candidate was seen. A full chunk that raised nothing is left to the next pass rather
    // than looked at again at once.
    if (found < RAISE_CHUNK || !progressed) return total;
  }
}

export type ManualInstallFlagPage = { flags: ManualInstallFlagRecord[]; nextCursor: bigint | null };

/**
 * A page of flags in id order (keyset), across rollouts: of the accounts in `userIds` (null: every account),
 * optionally of one account, one status, one rollout. Served by the (user_id, status, id) index. A flag carried
 * across rollouts is found by each of them: `rolloutId` matches any rollout it was raised or carried in (its
 * occurrences, the (rollout_id, flag_id) index), not only its latest.
 */
export async function listManualInstallFlags(
  db: Database,
  options: {
    userIds: readonly string[] | null;
    userId?: string;
    status?: ManualFlagStatus;
    rolloutId?: string;
    limit: number;
    after?: bigint;
  },
): Promise<ManualInstallFlagPage> {
  const userFilter =
    options.userId !== undefined
      ? options.userIds === null || options.userIds.includes(options.userId)
        ? { userId: options.userId }
        : { userId: { in: [] as string[] } }
      : options.userIds === null
        ? {}
        : { userId: { in: [...options.userIds] } };
  const rows = (await db.prisma.manualInstallFlag.findMany({
    where: {
      ...userFilter,
      ...(options.status ? { status: options.status } : {}),
      ...(options.rolloutId ? { occurrences: { some: { rolloutId: options.rolloutId } } } : {}),
      ...(options.after !== undefined ? { id: { gt: options.after } } : {}),
    },
    include: WITH_ROLLOUTS,
    orderBy: { id: 'asc' },
    take: options.limit + 1,
  })) as FlagRow[];
  const hasMore = rows.length > options.limit;
  const flags = (hasMore ? rows.slice(0, options.limit) : rows).map(toRecord);
  return { flags, nextCursor: hasMore ? flags[flags.length - 1]!.id : null };
}

export type ManualInstallFlagDetail = ManualInstallFlagRecord & {
  events: ManualInstallFlagEventRecord[];
  /** The rollout instance it was last raised for (`rolloutInstanceId`). */
  instance: {
    state: string;
    verification: string | null;
    agentStatus: string | null;
    verifyDeadlineAt: Date | null;
    verifiedAt: Date | null;
    attemptCount: number;
  } | null;
};

export async function findManualInstallFlag(db: Database, id: bigint): Promise<ManualInstallFlagDetail | null> {
  const flag = (await db.prisma.manualInstallFlag.findUnique({
    where: { id },
    include: { ...WITH_ROLLOUTS, events: { orderBy: { id: 'asc' } } },
  })) as (FlagRow & { events: ManualInstallFlagEventRecord[] }) | null;
  if (!flag) return null;
  const { events, ...rest } = flag;
  const instance = await db.prisma.rolloutInstance.findUnique({
    where: { id: flag.rolloutInstanceId },
    select: {
      state: true,
      verification: true,
      agentStatus: true,
      verifyDeadlineAt: true,
      verifiedAt: true,
      attemptCount: true,
    },
  });
  return { ...toRecord(rest), events, instance };
}

export type ManualInstallFlagTransitionResult =
  | {
      kind: 'changed';
      from: ManualFlagStatus;
      to: ManualFlagStatus;
      action: ManualFlagAction;
      flag: ManualInstallFlagRecord;
    }
  | { kind: 'unchanged'; flag: ManualInstallFlagRecord }
  | { kind: 'refused'; reason: string; flag: ManualInstallFlagRecord }
  | { kind: 'missing' };

/** The event of each move an operator makes. */
const FLAG_MOVE_EVENTS: Partial<Record<ManualFlagAction, 'flag.acknowledged' | 'flag.resolved' | 'flag.closed'>> = {
  acknowledged: 'flag.acknowledged',
  resolved: 'flag.resolved',
  closed: 'flag.closed',
};

/**
 * An operator's move of a flag (acknowledge, resolve, close), decided by the flag state machine and written with a
 * guarded update (`WHERE status = from`) and its event row, in one transaction. The flag is the host's, whatever
 * rollout raised it: resolving or closing it ends it for the host (a retry leaves the host out). Resolving also puts
 * the flag's latest rollout instance back to verification `pending` with no deadline: the reconciler arms the window
 * and re-checks NodeStatus. That rollout instance row is locked before the flag, the order in which the reconciler
 * raising a flag locks them, so the two cannot deadlock; the write is also guarded on it, should a later rollout's
 * failure have carried the flag on meanwhile.
 */
export async function transitionManualInstallFlag(
  db: Database,
  input: {
    flagId: bigint;
    event: Extract<ManualFlagEvent, { type: 'acknowledge' | 'resolve' | 'close' }>;
    /** Who, for the flag's history (acknowledgedBy, resolvedBy). */
    actor: string;
    /** Who, for the flag's event (flag.acknowledged, resolved, closed). Default DIRECT_WRITER (tests, tools). */
    by?: EventSource;
    note?: string | null;
    now?: Date;
  },
): Promise<ManualInstallFlagTransitionResult> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const found = (await db.prisma.manualInstallFlag.findUnique({
      where: { id: input.flagId },
      include: WITH_ROLLOUTS,
    })) as FlagRow | null;
    if (!found) return { kind: 'missing' };
    const flag = toRecord(found);
    const decision = decideManualFlag(flag.status, input.event);
    if (decision.type === 'unchanged') return { kind: 'unchanged', flag };
    if (decision.type === 'refuse' || decision.type === 'ignore')
      return { kind: 'refused', reason: decision.reason, flag };
    const now = input.now ?? new Date();
    const note = input.note ?? null;
    const moved = await db.prisma.$transaction(async (tx) => {
      if (decision.action === 'resolved')
        await tx.$queryRaw`SELECT id FROM rollout_instance WHERE id = ${flag.rolloutInstanceId} FOR UPDATE`;
      const updated = await tx.manualInstallFlag.updateMany({
        where: { id: flag.id, status: decision.from, rolloutInstanceId: flag.rolloutInstanceId },
        data: {
          status: decision.to,
          ...(note !== null ? { note } : {}),
          ...(decision.action === 'acknowledged' ? { acknowledgedAt: now, acknowledgedBy: input.actor } : {}),
          ...(decision.action === 'resolved' ? { resolvedAt: now, resolvedBy: input.actor } : {}),
        },
      });
      if (updated.count === 0) return null;
      await tx.manualInstallFlagEvent.create({
        data: {
          flagId: flag.id,
          at: now,
          action: decision.action,
          actor: input.actor,
          note,
          detail: { from: decision.from, to: decision.to },
        },
      });
      if (decision.action === 'resolved') {
        await tx.$executeRaw`
          UPDATE rollout_instance SET verification = 'pending', verify_deadline_at = NULL, verified_at = NULL, updated_at = ${now}
          WHERE id = ${flag.rolloutInstanceId}`;
      }
      const after = toRecord(
        (await tx.manualInstallFlag.findUniqueOrThrow({ where: { id: flag.id }, include: WITH_ROLLOUTS })) as FlagRow,
      );
      const type = FLAG_MOVE_EVENTS[decision.action];
      if (type !== undefined) {
        await recordEvents(tx, input.by ?? DIRECT_WRITER, [
          {
            type,
            rolloutId: flag.rolloutId,
            userId: flag.userId,
            data: {
              flagId: flag.id.toString(),
              instanceId: flag.instanceId,
              from: decision.from,
              to: decision.to,
              note,
            },
          },
        ]);
      }
      return after;
    });
    if (moved) return { kind: 'changed', from: decision.from, to: decision.to, action: decision.action, flag: moved };
    // Someone moved it between our read and our write: decide again from what is there now.
  }
  throw new GuardedWriteRaceError(
    'manual_install_flag',
    String(input.flagId),
    `manual-install flag ${input.flagId}: transition ${input.event.type} kept losing races`,
  );
}

/**
 * Flags raised or carried in one rollout, per status: a flag carried across rollouts counts in each of them (the
 * (rollout_id, flag_id) index of the occurrences).
 */
export async function countManualInstallFlags(
  db: Database,
  rolloutId: string,
): Promise<Record<ManualFlagStatus, number>> {
  // Read by every failure report, pollers' included: a prepared statement, not Prisma (see findActiveApiKeyByHash).
  const { rows } = await db.pool.query<{ status: ManualFlagStatus; n: string }>({
    name: 'fleet_count_manual_install_flags',
    text: `SELECT f.status::text AS status, count(*) AS n
      FROM manual_install_flag_occurrence o JOIN manual_install_flag f ON f.id = o.flag_id
      WHERE o.rollout_id = $1::uuid GROUP BY f.status`,
    values: [rolloutId],
  });
  return flagCountsOf(rows);
}

/** Flags per status (every status, 0 where no row), from `status, n` rows (see countManualInstallFlags). */
export function flagCountsOf(rows: Iterable<{ status: ManualFlagStatus; n: number | string }>) {
  const counts: Record<ManualFlagStatus, number> = { open: 0, acknowledged: 0, resolved: 0, closed: 0 };
  for (const row of rows) counts[row.status] = Number(row.n);
  return counts;
}
