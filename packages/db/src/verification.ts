import type { ManualFlagStatus, VerificationFailureReason } from '@fleet/rollout-domain';
import { decideManualFlag, manualFlagStatusesAllowing } from '@fleet/rollout-domain';
import type { Database } from './client.ts';
import { RECONCILER_ACTOR } from './manual-install-flags.ts';

/**
 * Install verification writes (the reconciler's). The instance state stays what NodeInstall made it (`succeeded`
 * stays succeeded: the call did succeed); `verification` says whether the agent was then seen running, and a
 * failed verification sets `needs_manual_install` with its reason and raises a manual-install flag, in one
 * transaction. Every write is guarded on `verification = 'pending'`, so two reconcilers (a hand-over) or a late
 * result never overwrite a decided verification.
 */

/**
 * Puts every succeeded, never-verified instance of the rollout up for verification: its agent must report running
 * by `finished_at + windowMs`. Returns how many were armed.
 */
export async function armInstallVerification(db: Database, rolloutId: string, windowMs: number): Promise<number> {
  return db.prisma.$executeRaw`
    UPDATE rollout_instance
    SET verification = 'pending', updated_at = now(),
      verify_deadline_at = coalesce(finished_at, now()) + ${windowMs}::double precision * interval '1 millisecond'
    WHERE rollout_id = ${rolloutId}::uuid AND state = 'succeeded' AND verification IS NULL`;
}

/**
 * Re-verifications an operator asked for (resolving a flag puts the instance back to `pending` without a deadline):
 * the window starts now. Served by the (verification, verify_deadline_at) index.
 */
export async function armReverification(db: Database, windowMs: number, now: Date = new Date()): Promise<number> {
  return db.prisma.$executeRaw`
    UPDATE rollout_instance
    SET verify_deadline_at = ${now}::timestamptz + ${windowMs}::double precision * interval '1 millisecond', updated_at = ${now}
    WHERE verification = 'pending' AND verify_deadline_at IS NULL`;
}

export type PendingVerification = {
  id: bigint;
  rolloutId: string;
  userId: string;
  instanceId: string;
  state: string;
  deadline: Date;
  flagId: bigint | null;
  flagStatus: ManualFlagStatus | null;
};

/** Instances awaiting verification, earliest deadline first, at most `limit` (the (verification, verify_deadline_at) index). */
export async function listPendingVerifications(
  db: Database,
  options: { limit: number },
): Promise<PendingVerification[]> {
  const rows = await db.prisma.$queryRaw<
    {
      id: bigint;
      rollout_id: string;
      user_id: string;
      instance_id: string;
      state: string;
      verify_deadline_at: Date;
      flag_id: bigint | null;
      flag_status: ManualFlagStatus | null;
    }[]
  >`
    SELECT ri.id, ri.rollout_id::text AS rollout_id, r.user_id, ri.instance_id, ri.state::text AS state, ri.verify_deadline_at,
           f.id AS flag_id, f.status::text AS flag_status
    FROM rollout_instance ri
    JOIN rollout r ON r.id = ri.rollout_id
    LEFT JOIN manual_install_flag f ON f.rollout_instance_id = ri.id
    WHERE ri.verification = 'pending' AND ri.verify_deadline_at IS NOT NULL
    ORDER BY ri.verify_deadline_at, ri.id
    LIMIT ${options.limit}`;
  return rows.map((r) => ({
    id: r.id,
    rolloutId: r.rollout_id,
    userId: r.user_id,
    instanceId: r.instance_id,
    state: r.state,
    deadline: r.verify_deadline_at,
    flagId: r.flag_id,
    flagStatus: r.flag_status,
  }));
}

/**
 * Marks instances verified (the agent reports running) and, for those an operator had resolved by hand, writes the
 * flag's `reverified` event. One statement. Returns how many were verified and how many of them were re-verified.
 */
export async function markInstancesVerified(
  db: Database,
  ids: readonly bigint[],
  now: Date = new Date(),
): Promise<{ verified: number; reverified: number }> {
  if (ids.length === 0) return { verified: 0, reverified: 0 };
  const from = manualFlagStatusesAllowing({ type: 'reverify_passed' }) as string[];
  const rows = await db.prisma.$queryRaw<{ verified: bigint; reverified: bigint }[]>`
    WITH verified AS (
      UPDATE rollout_instance SET verification = 'verified', verified_at = ${now}, agent_status = 'running', updated_at = ${now}
      WHERE id = ANY(${ids as bigint[]}::bigint[]) AND verification = 'pending'
      RETURNING id
    ), reverified AS (
      INSERT INTO manual_install_flag_event (flag_id, at, action, actor, detail)
      SELECT f.id, ${now}, 'reverified', ${RECONCILER_ACTOR}, jsonb_build_object('agentStatus', 'running')
      FROM manual_install_flag f JOIN verified v ON f.rollout_instance_id = v.id
      WHERE f.status::text = ANY(${from}::text[])
      RETURNING flag_id
    )
    SELECT (SELECT count(*) FROM verified) AS verified, (SELECT count(*) FROM reverified) AS reverified`;
  return { verified: Number(rows[0]?.verified ?? 0), reverified: Number(rows[0]?.reverified ?? 0) };
}

/** Records the agent status last seen on instances still awaiting verification (for operators; one statement). */
export async function recordAgentStatuses(
  db: Database,
  seen: readonly { id: bigint; agentStatus: string }[],
): Promise<void> {
  if (seen.length === 0) return;
  await db.prisma.$executeRaw`
    UPDATE rollout_instance ri SET agent_status = s.agent_status, updated_at = now()
    FROM unnest(${seen.map((s) => s.id)}::bigint[], ${seen.map((s) => s.agentStatus)}::text[]) AS s(id, agent_status)
    WHERE ri.id = s.id AND ri.verification = 'pending' AND ri.agent_status IS DISTINCT FROM s.agent_status`;
}

export type VerificationFailureResult =
  /** A new manual-install flag was raised. */
  | { kind: 'flagged'; flagId: bigint }
  /** The operator's resolved flag went back to open: the agent is still not running. */
  | { kind: 'reopened'; flagId: bigint }
  /** Recorded on the instance; its flag was in a status this does not change (e.g. closed). */
  | { kind: 'recorded'; flagId: bigint | null }
  /** The instance was no longer pending verification (another reconciler decided it first). */
  | { kind: 'stale' };

/**
 * A failed verification, in one transaction: the instance gets `verification = failed`, `needs_manual_install`
 * and (unless it already had one, from a failed install) the reason; then its flag is raised, or reopened when
 * an operator had resolved it.
 */
export async function failInstallVerification(
  db: Database,
  input: {
    rolloutInstanceId: bigint;
    reason: VerificationFailureReason;
    agentStatus: string | null;
    detail: string;
    now?: Date;
  },
): Promise<VerificationFailureResult> {
  const now = input.now ?? new Date();
  return db.prisma.$transaction(async (tx) => {
    const moved = await tx.$queryRaw<
      {
        rollout_id: string;
        instance_id: string;
        user_id: string;
        last_request_id: string | null;
        manual_install_reason: string;
      }[]
    >`
      UPDATE rollout_instance ri SET
        verification = 'failed', agent_status = coalesce(${input.agentStatus}, ri.agent_status), verified_at = NULL,
        manual_install_reason = CASE WHEN ri.needs_manual_install AND ri.manual_install_reason IS NOT NULL
          THEN ri.manual_install_reason ELSE ${input.reason} END,
        needs_manual_install = true, updated_at = ${now}
      FROM rollout r
      WHERE ri.id = ${input.rolloutInstanceId} AND ri.verification = 'pending' AND r.id = ri.rollout_id
      RETURNING ri.rollout_id::text AS rollout_id, ri.instance_id, r.user_id, ri.last_request_id, ri.manual_install_reason`;
    const instance = moved[0];
    if (!instance) return { kind: 'stale' };
    const flags = await tx.$queryRaw<{ id: bigint; status: ManualFlagStatus }[]>`
      SELECT id, status::text AS status FROM manual_install_flag WHERE rollout_instance_id = ${input.rolloutInstanceId} FOR UPDATE`;
    const flag = flags[0];
    const detail = {
      source: 'verification',
      reason: input.reason,
      agentStatus: input.agentStatus,
      detail: input.detail,
    };
    if (!flag) {
      const inserted = await tx.$queryRaw<{ id: bigint }[]>`
        INSERT INTO manual_install_flag (rollout_instance_id, rollout_id, user_id, instance_id, reason, detail, last_request_id, created_at, updated_at)
        VALUES (${input.rolloutInstanceId}, ${instance.rollout_id}::uuid, ${instance.user_id}, ${instance.instance_id}, ${instance.manual_install_reason},
                ${input.detail}, ${instance.last_request_id}, ${now}, ${now})
        ON CONFLICT (rollout_instance_id) DO NOTHING
        RETURNING id`;
      if (!inserted[0]) return { kind: 'recorded', flagId: null };
      await tx.$executeRaw`
        INSERT INTO manual_install_flag_event (flag_id, at, action, actor, detail)
        VALUES (${inserted[0].id}, ${now}, 'flagged', ${RECONCILER_ACTOR}, ${JSON.stringify(detail)}::jsonb)`;
      return { kind: 'flagged', flagId: inserted[0].id };
    }
    const decision = decideManualFlag(flag.status, { type: 'reverify_failed' });
    if (decision.type !== 'transition') return { kind: 'recorded', flagId: flag.id };
    await tx.$executeRaw`
      UPDATE manual_install_flag SET status = ${decision.to}::"ManualFlagStatus", detail = ${input.detail}, updated_at = ${now}
      WHERE id = ${flag.id} AND status::text = ${decision.from}`;
    await tx.$executeRaw`
      INSERT INTO manual_install_flag_event (flag_id, at, action, actor, detail)
      VALUES (${flag.id}, ${now}, ${decision.action}, ${RECONCILER_ACTOR}, ${JSON.stringify(detail)}::jsonb)`;
    return { kind: 'reopened', flagId: flag.id };
  });
}
