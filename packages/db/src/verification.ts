import type { InstallDriver, ManualFlagStatus, VerificationFailureReason } from '@fleet/rollout-domain';
import { decideManualFlag, INSTALL_DRIVERS, manualFlagStatusesAllowing } from '@fleet/rollout-domain';
import type { Database } from './client.ts';
import { RECONCILER_ACTOR, RECONCILER_SOURCE, raiseFlagsForHosts } from './manual-install-flag-raise.ts';
import { recordEvents } from './events/record-events.ts';

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
  /** The rollout's install driver (policy.driver; node-install when the policy predates it): which status call verifies it. */
  driver: InstallDriver;
  flagId: bigint | null;
  flagStatus: ManualFlagStatus | null;
};

/** A stored policy's driver; none (a rollout from before drivers) is node-install, as readPolicy reads it. */
function driverOf(stored: string | null): InstallDriver {
  return (INSTALL_DRIVERS as readonly string[]).includes(stored ?? '') ? (stored as InstallDriver) : 'node-install';
}

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
      driver: string | null;
      flag_id: bigint | null;
      flag_status: ManualFlagStatus | null;
    }[]
  >`
    SELECT ri.id, ri.rollout_id::text AS rollout_id, r.user_id, ri.instance_id, ri.state::text AS state, ri.verify_deadline_at,
           r.policy->>'driver' AS driver, f.id AS flag_id, f.status::text AS flag_status
    FROM rollout_instance ri
    JOIN rollout r ON r.id = ri.rollout_id
    LEFT JOIN manual_install_flag_occurrence o ON o.rollout_instance_id = ri.id
    LEFT JOIN manual_install_flag f ON f.id = o.flag_id
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
    driver: driverOf(r.driver),
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
      FROM verified v
      JOIN manual_install_flag_occurrence o ON o.rollout_instance_id = v.id
      JOIN manual_install_flag f ON f.id = o.flag_id
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
  /** A new manual-install flag was raised: the host had none that was not closed. */
  | { kind: 'flagged'; flagId: bigint }
  /** The host's open or acknowledged flag, raised in another rollout, got this failure too. */
  | { kind: 'reflagged'; flagId: bigint }
  /** A resolved flag went back to open: the agent is still (or again) not running. */
  | { kind: 'reopened'; flagId: bigint }
  /** Recorded on the instance; its flag was in a status this does not change (e.g. closed), or none could be had. */
  | { kind: 'recorded'; flagId: bigint | null }
  /** The instance was no longer pending verification (another reconciler decided it first). */
  | { kind: 'stale' };

/**
 * A failed verification, in one transaction: the instance gets `verification = failed`, `needs_manual_install`
 * and (unless it already had one, from a failed install) the reason. Then, when this rollout instance already has a
 * flag (an operator resolved it and this was the re-verification), that flag is reopened; otherwise the host's flag
 * is raised or carried over (manual-install-flag-raise.ts). The instance row is locked by the first statement,
 * before any flag row, as raising requires.
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
        parent_rollout_id: string | null;
        instance_id: string;
        user_id: string;
        last_request_id: string | null;
        manual_install_reason: string;
        attempt_count: number;
      }[]
    >`
      UPDATE rollout_instance ri SET
        verification = 'failed', agent_status = coalesce(${input.agentStatus}, ri.agent_status), verified_at = NULL,
        manual_install_reason = CASE WHEN ri.needs_manual_install AND ri.manual_install_reason IS NOT NULL
          THEN ri.manual_install_reason ELSE ${input.reason} END,
        needs_manual_install = true, updated_at = ${now}
      FROM rollout r
      WHERE ri.id = ${input.rolloutInstanceId} AND ri.verification = 'pending' AND r.id = ri.rollout_id
      RETURNING ri.rollout_id::text AS rollout_id, r.parent_rollout_id::text AS parent_rollout_id, ri.instance_id, r.user_id,
                ri.last_request_id, ri.manual_install_reason, ri.attempt_count`;
    const instance = moved[0];
    if (!instance) return { kind: 'stale' };
    const history = {
      source: 'verification' as const,
      reason: input.reason,
      agentStatus: input.agentStatus,
      detail: input.detail,
    };
    const flags = await tx.$queryRaw<{ id: bigint; status: ManualFlagStatus }[]>`
      SELECT f.id, f.status::text AS status
      FROM manual_install_flag_occurrence o JOIN manual_install_flag f ON f.id = o.flag_id
      WHERE o.rollout_instance_id = ${input.rolloutInstanceId}
      FOR UPDATE OF f`;
    const flag = flags[0];
    if (!flag) {
      const [raised] = await raiseFlagsForHosts(
        tx,
        [
          {
            rolloutInstanceId: input.rolloutInstanceId,
            rolloutId: instance.rollout_id,
            parentRolloutId: instance.parent_rollout_id,
            userId: instance.user_id,
            instanceId: instance.instance_id,
            reason: instance.manual_install_reason,
            detail: input.detail,
            lastRequestId: instance.last_request_id,
            attemptCount: instance.attempt_count,
            history,
          },
        ],
        now,
      );
      // Left to the reconciler's sweep (raiseMissingManualInstallFlags): the instance needs a manual install now.
      if (!raised) return { kind: 'recorded', flagId: null };
      return { kind: raised.action, flagId: raised.flagId };
    }
    const decision = decideManualFlag(flag.status, { type: 'reverify_failed' });
    if (decision.type !== 'transition') return { kind: 'recorded', flagId: flag.id };
    const reopened = await tx.$executeRaw`
      UPDATE manual_install_flag SET status = ${decision.to}::"ManualFlagStatus", detail = ${input.detail}, updated_at = ${now}
      WHERE id = ${flag.id} AND status::text = ${decision.from}`;
    if (reopened === 0) return { kind: 'recorded', flagId: flag.id };
    await tx.$executeRaw`
      INSERT INTO manual_install_flag_event (flag_id, at, action, actor, detail)
      VALUES (${flag.id}, ${now}, ${decision.action}, ${RECONCILER_ACTOR}, ${JSON.stringify(history)}::jsonb)`;
    await recordEvents(tx, RECONCILER_SOURCE, [
      {
        type: 'flag.reopened',
        rolloutId: instance.rollout_id,
        userId: instance.user_id,
        data: { flagId: flag.id.toString(), instanceId: instance.instance_id, reason: input.reason },
      },
    ]);
    return { kind: 'reopened', flagId: flag.id };
  });
}
