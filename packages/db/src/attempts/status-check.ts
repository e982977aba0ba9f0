import type { InstanceState, RolloutStatus } from '@fleet/rollout-domain';
import { decideInstance } from '@fleet/rollout-domain';
import type { Database } from '../client.ts';
import type { AttemptAnswer } from './types.ts';

/**
 * skipInstalled's status check before an instance's first NodeInstall: recorded like an attempt (kind
 * `status_check`, attempt_no 0, its RequestId), and when the agent runs, the instance ends `skipped` with no
 * NodeInstall, in the same transaction. Only a pending instance with no attempt yet, of a running rollout, is
 * checked; at most once (a paused rollout's instance is checked when it runs again).
 */

export type StatusCheckInput = {
  rolloutInstanceId: bigint;
  rolloutId: string;
  workerId: string;
  /** When the status call started. */
  startedAt: Date;
  answer: AttemptAnswer;
  /** The agent status reported for the instance (normalised); null when the call failed or left it out. */
  agentStatus: string | null;
  /** The agent runs: the instance ends `skipped`. */
  agentRunning: boolean;
};

export type StatusCheckResult =
  /** Recorded, and the instance ended `skipped`. */
  | { kind: 'skipped' }
  /** Recorded; the instance goes on to its first NodeInstall. */
  | { kind: 'recorded' }
  /** Nothing written: already checked, already attempted or final, its rollout not running, or no such row. */
  | { kind: 'not_checked' };

type CheckRow = { state: InstanceState; attempt_count: number; rollout_status: RolloutStatus; checked: boolean };

/** Whether the instance still wants its status check: pending, no attempt yet, none recorded. */
export async function needsStatusCheck(db: Database, rolloutInstanceId: bigint): Promise<boolean> {
  const { rows } = await db.pool.query<{ needed: boolean }>({
    name: 'fleet_needs_status_check',
    text: `SELECT ri.state = 'pending' AND ri.attempt_count = 0 AND NOT EXISTS (
        SELECT 1 FROM install_attempt a WHERE a.rollout_instance_id = ri.id AND a.attempt_no = 0) AS needed
      FROM rollout_instance ri WHERE ri.id = $1::bigint`,
    values: [rolloutInstanceId.toString()],
  });
  return rows[0]?.needed ?? false;
}

export async function recordStatusCheck(db: Database, input: StatusCheckInput): Promise<StatusCheckResult> {
  return db.prisma.$transaction(async (tx) => {
    const rows = await tx.$queryRaw<CheckRow[]>`
      SELECT ri.state::text AS state, ri.attempt_count, r.status::text AS rollout_status,
             EXISTS (SELECT 1 FROM install_attempt a WHERE a.rollout_instance_id = ri.id AND a.attempt_no = 0) AS checked
      FROM rollout_instance ri JOIN rollout r ON r.id = ri.rollout_id
      WHERE ri.id = ${input.rolloutInstanceId}
      FOR UPDATE OF ri`;
    const row = rows[0];
    if (!row || row.checked) return { kind: 'not_checked' };
    // What the state machine says of a running agent is also what decides whether a check may be recorded at all.
    const decision = decideInstance(row.state, {
      type: 'agent_running',
      attemptCount: row.attempt_count,
      rolloutStatus: row.rollout_status,
    });
    if (decision.type !== 'transition' || decision.to !== 'skipped') return { kind: 'not_checked' };
    const a = input.answer;
    await tx.$executeRaw`
      INSERT INTO install_attempt (rollout_instance_id, rollout_id, attempt_no, kind, started_at, finished_at, duration_ms,
        http_status, success, error_code, error_message, request_id, outcome, outcome_kind, worker_id)
      VALUES (${input.rolloutInstanceId}, ${input.rolloutId}::uuid, 0, 'status_check', ${input.startedAt}, ${a.finishedAt},
        ${a.durationMs}, ${a.httpStatus}, ${a.success}, ${a.errorCode}, ${a.errorMessage}, ${a.requestId},
        ${a.outcome}::"AttemptOutcome", ${a.outcomeKind}, ${input.workerId})`;
    if (!input.agentRunning) return { kind: 'recorded' };
    const moved = await tx.$executeRaw`
      UPDATE rollout_instance SET state = 'skipped', finished_at = ${a.finishedAt}, updated_at = ${a.finishedAt},
        next_attempt_at = NULL, agent_status = ${input.agentStatus}, last_outcome = 'skipped', last_request_id = ${a.requestId}
      WHERE id = ${input.rolloutInstanceId} AND state = 'pending' AND attempt_count = 0`;
    return moved === 1 ? { kind: 'skipped' } : { kind: 'recorded' };
  });
}
