import type { ManualFlagAction, ManualFlagEvent, ManualFlagStatus } from '@fleet/rollout-domain';
import { decideManualFlag } from '@fleet/rollout-domain';
import type { Database } from './client.ts';

/**
 * Manual-install flags: one per rollout instance that needs a person to install the agent by hand, with its
 * history. The reconciler raises them (idempotently: the flag is unique per rollout instance); operators move them
 * through the state machine in @fleet/rollout-domain (manual-install-flag.ts), every move a guarded write plus an
 * event row in one transaction.
 */

export type ManualInstallFlagRecord = {
  id: bigint;
  rolloutInstanceId: bigint;
  rolloutId: string;
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

/** The reconciler's name in flag histories. */
export const RECONCILER_ACTOR = 'reconciler';

/** Most flags raised by one statement; the sweep repeats until a statement raises fewer. */
const RAISE_CHUNK = 5000;

/**
 * Raises a flag (status open, with a `flagged` event) for every instance of the rollout that needs a manual install
 * and has none yet: failed installs (the worker set the reason) and failed verifications. Safe to run from two
 * reconcilers at once: `ON CONFLICT DO NOTHING` on the unique rollout instance, and events only for rows inserted.
 * Returns the number of flags raised.
 */
export async function raiseMissingManualInstallFlags(db: Database, rolloutId: string): Promise<number> {
  let total = 0;
  for (;;) {
    const raised = await db.prisma.$executeRaw`
      WITH raised AS (
        INSERT INTO manual_install_flag (rollout_instance_id, rollout_id, user_id, instance_id, reason, detail, last_request_id)
        SELECT ri.id, ri.rollout_id, r.user_id, ri.instance_id, coalesce(ri.manual_install_reason, 'rejected'),
               left(nullif(concat_ws(': ', ri.last_error_code, ri.last_error_message), ''), 2000), ri.last_request_id
        FROM rollout_instance ri JOIN rollout r ON r.id = ri.rollout_id
        WHERE ri.rollout_id = ${rolloutId}::uuid AND ri.state IN ('failed', 'succeeded') AND ri.needs_manual_install
          AND NOT EXISTS (SELECT 1 FROM manual_install_flag f WHERE f.rollout_instance_id = ri.id)
        ORDER BY ri.id
        LIMIT ${RAISE_CHUNK}
        ON CONFLICT (rollout_instance_id) DO NOTHING
        RETURNING id, reason, detail, last_request_id
      )
      INSERT INTO manual_install_flag_event (flag_id, action, actor, detail)
      SELECT id, 'flagged', ${RECONCILER_ACTOR}, jsonb_build_object('source', 'install', 'reason', reason, 'detail', detail, 'lastRequestId', last_request_id)
      FROM raised`;
    total += raised;
    if (raised < RAISE_CHUNK) return total;
  }
}

export type ManualInstallFlagPage = { flags: ManualInstallFlagRecord[]; nextCursor: bigint | null };

/**
 * A page of flags in id order (keyset), across rollouts: of the accounts in `userIds` (null: every account),
 * optionally of one account, one status, one rollout. Served by the (user_id, status, id) index.
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
      ...(options.rolloutId ? { rolloutId: options.rolloutId } : {}),
      ...(options.after !== undefined ? { id: { gt: options.after } } : {}),
    },
    orderBy: { id: 'asc' },
    take: options.limit + 1,
  })) as ManualInstallFlagRecord[];
  const hasMore = rows.length > options.limit;
  const flags = hasMore ? rows.slice(0, options.limit) : rows;
  return { flags, nextCursor: hasMore ? flags[flags.length - 1]!.id : null };
}

export type ManualInstallFlagDetail = ManualInstallFlagRecord & {
  events: ManualInstallFlagEventRecord[];
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
    include: { events: { orderBy: { id: 'asc' } } },
  })) as (ManualInstallFlagRecord & { events: ManualInstallFlagEventRecord[] }) | null;
  if (!flag) return null;
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
  return { ...flag, instance };
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

/**
 * An operator's move of a flag (acknowledge, resolve, close), decided by the flag state machine and written with a
 * guarded update (`WHERE status = from`) and its event row, in one transaction. Resolving also puts the instance
 * back to verification `pending` with no deadline: the reconciler arms the window and re-checks NodeStatus.
 */
export async function transitionManualInstallFlag(
  db: Database,
  input: {
    flagId: bigint;
    event: Extract<ManualFlagEvent, { type: 'acknowledge' | 'resolve' | 'close' }>;
    actor: string;
    note?: string | null;
    now?: Date;
  },
): Promise<ManualInstallFlagTransitionResult> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const flag = (await db.prisma.manualInstallFlag.findUnique({
      where: { id: input.flagId },
    })) as ManualInstallFlagRecord | null;
    if (!flag) return { kind: 'missing' };
    const decision = decideManualFlag(flag.status, input.event);
    if (decision.type === 'unchanged') return { kind: 'unchanged', flag };
    if (decision.type === 'refuse' || decision.type === 'ignore')
      return { kind: 'refused', reason: decision.reason, flag };
    const now = input.now ?? new Date();
    const note = input.note ?? null;
    const moved = await db.prisma.$transaction(async (tx) => {
      const updated = await tx.manualInstallFlag.updateMany({
        where: { id: flag.id, status: decision.from },
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
      return (await tx.manualInstallFlag.findUniqueOrThrow({ where: { id: flag.id } })) as ManualInstallFlagRecord;
    });
    if (moved) return { kind: 'changed', from: decision.from, to: decision.to, action: decision.action, flag: moved };
    // Someone moved it between our read and our write: decide again from what is there now.
  }
  throw new Error(`manual-install flag ${input.flagId}: transition ${input.event.type} kept losing races`);
}

/** Flags of one rollout per status (the (rollout_id, status) index). */
export async function countManualInstallFlags(
  db: Database,
  rolloutId: string,
): Promise<Record<ManualFlagStatus, number>> {
  const rows = await db.prisma.$queryRaw<{ status: ManualFlagStatus; n: bigint }[]>`
    SELECT status::text AS status, count(*) AS n FROM manual_install_flag WHERE rollout_id = ${rolloutId}::uuid GROUP BY status`;
  const counts: Record<ManualFlagStatus, number> = { open: 0, acknowledged: 0, resolved: 0, closed: 0 };
  for (const row of rows) counts[row.status] = Number(row.n);
  return counts;
}
