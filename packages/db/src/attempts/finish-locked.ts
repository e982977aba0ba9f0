import type { AttemptVerdict, InstanceState, RolloutStatus } from '@fleet/rollout-domain';
import { decideInstance } from '@fleet/rollout-domain';
import type { Database } from '../client.ts';
import { finishFacts } from './finish-facts.ts';
import { isTimedOut } from './instance-timeout.ts';
import { manualInstallReasonAfter } from './manual-install-reason.ts';
import type { FastFinish, FinishInput, FinishResult } from './types.ts';

/**
 * What an answer still needs after the one-statement path (finishInProgressMany): nothing when it settled it; the
 * answer recorded and the instance moved by the general path when it did not apply (`general`); the instance moved by
 * the general path when the answer was recorded but the instance was not where that path assumed (`recorded`).
 */
export async function settleFinish(db: Database, input: FinishInput, fast: FastFinish): Promise<FinishResult> {
  if (fast !== 'general' && fast !== 'recorded') return fast;
  const { verdict, timeoutMs, decidedAt } = finishFacts(input);
  if (fast === 'general') {
    const a = input.answer;
    const recorded = await db.prisma.$executeRaw`
      UPDATE install_attempt SET
        finished_at = ${a.finishedAt}, duration_ms = ${a.durationMs}, http_status = ${a.httpStatus}, success = ${a.success},
        error_code = ${a.errorCode}, error_message = ${a.errorMessage}, request_id = ${a.requestId},
        outcome = ${a.outcome}::"AttemptOutcome", outcome_kind = ${a.outcomeKind},
        started_at = coalesce(${a.sentAt ?? null}::timestamptz, started_at)
      WHERE id = ${input.attemptId} AND (finished_at IS NULL OR outcome = 'abandoned')`;
    if (recorded !== 1) return { kind: 'duplicate' };
  }
  // Recorded, but the instance is not where the one-statement path assumed: decide from what is there.
  return moveInstanceAfterAnswer(db, input, verdict, timeoutMs, decidedAt);
}

/** The general path: lock the instance, read it and its rollout, ask the state machine, write with a guard. */
async function moveInstanceAfterAnswer(
  db: Database,
  input: FinishInput,
  verdict: AttemptVerdict,
  timeoutMs: number | null,
  decidedAt: Date,
): Promise<FinishResult> {
  const a = input.answer;
  return db.prisma.$transaction(async (tx) => {
    const rows = await tx.$queryRaw<
      { state: InstanceState; attempt_count: number; started_at: Date | null; rollout_status: RolloutStatus }[]
    >`
      SELECT ri.state::text AS state, ri.attempt_count, ri.started_at, r.status::text AS rollout_status
      FROM rollout_instance ri JOIN rollout r ON r.id = ri.rollout_id
      WHERE ri.id = ${input.rolloutInstanceId} FOR UPDATE OF ri`;
    const row = rows[0];
    if (!row || row.attempt_count !== input.attemptNo) return { kind: 'recorded_only' };
    const decision = decideInstance(row.state, {
      type: 'attempt_finished',
      outcome: verdict,
      attemptNo: input.attemptNo,
      maxAttempts: input.maxAttempts,
      rolloutStatus: row.rollout_status,
      timedOut: isTimedOut(row.started_at, timeoutMs, decidedAt),
    });
    if (decision.type !== 'transition') return { kind: 'recorded_only' };
    const isFinal = decision.to !== 'pending';
    const manual = manualInstallReasonAfter(decision.cause, input.manualInstallReason ?? null);
    await tx.$executeRaw`
      UPDATE rollout_instance SET
        state = ${decision.to}::"InstanceState",
        last_outcome = ${a.outcomeKind}, last_http_status = ${a.httpStatus}, last_error_code = ${a.errorCode},
        last_error_message = ${a.errorMessage}, last_request_id = ${a.requestId},
        next_attempt_at = ${isFinal ? null : input.nextAttemptAt},
        finished_at = ${isFinal ? a.finishedAt : null},
        needs_manual_install = ${manual !== null}, manual_install_reason = ${manual},
        updated_at = now()
      WHERE id = ${input.rolloutInstanceId} AND state::text = ${decision.from} AND attempt_count = ${input.attemptNo}`;
    return { kind: 'transitioned', to: decision.to, cause: decision.cause, reason: decision.reason };
  });
}
