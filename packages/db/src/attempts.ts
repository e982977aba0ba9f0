import type { AttemptOutcomeClass, AttemptVerdict, InstanceState, RolloutStatus } from '@fleet/rollout-domain';
import { decideInstance } from '@fleet/rollout-domain';
import type { Database } from './client.ts';

/**
 * The install path's writes. Delivery is at-least-once (a job can run twice), so both steps are idempotent:
 * an attempt row is unique per (instance, attempt number), and every instance transition is guarded on the state
 * and attempt count it was decided from.
 */

export type ClaimResult =
  | { kind: 'claimed'; attemptId: bigint; attemptNo: number; abandonedAttemptNo: number | null }
  /** The instance is final: nothing to do (a duplicate delivery, or a repair raced us). */
  | { kind: 'final'; state: InstanceState }
  /** The claim itself ended the instance: its rollout was cancelled, or its in-progress timeout passed. */
  | { kind: 'closed'; to: InstanceState; reason: string }
  /** Another worker's call for this instance may still be in flight; look again at `retryAt`. */
  | { kind: 'busy'; retryAt: Date }
  /** The rollout is paused: start nothing. */
  | { kind: 'paused' }
  | { kind: 'missing' };

type ClaimRow = {
  state: InstanceState;
  attempt_count: number;
  instance_started_at: Date | null;
  rollout_status: RolloutStatus;
  attempt_id: bigint | null;
  started_at: Date | null;
  finished_at: Date | null;
};

/** True when an instance first started at `startedAt` has run out of its in-progress time by `at`. */
function isTimedOut(startedAt: Date | null, timeoutMs: number | null, at: Date): boolean {
  return timeoutMs !== null && startedAt !== null && at.getTime() >= startedAt.getTime() + timeoutMs;
}

/**
 * Starts attempt N+1 of an instance: writes the attempt row (started, unfinished) before the HTTP call is made, so
 * that a call whose worker dies still leaves its row. An unfinished attempt started more than `staleAfterMs` ago
 * belongs to a dead worker: it is marked `abandoned` and a new attempt begins.
 */
export async function claimAttempt(
  db: Database,
  input: {
    rolloutInstanceId: bigint;
    rolloutId: string;
    workerId: string;
    staleAfterMs: number;
    /** The rollout's per-instance in-progress timeout, in ms (null: none). */
    instanceTimeoutMs?: number | null;
    now?: Date;
  },
): Promise<ClaimResult> {
  const now = input.now ?? new Date();
  const fast = await claimPendingFast(db, input, now);
  if (fast) return fast;
  return db.$transaction(async (tx) => {
    const rows = await tx.$queryRaw<ClaimRow[]>`
      SELECT ri.state::text AS state, ri.attempt_count, ri.started_at AS instance_started_at, r.status::text AS rollout_status,
             a.id AS attempt_id, a.started_at, a.finished_at
      FROM rollout_instance ri
      JOIN rollout r ON r.id = ri.rollout_id
      LEFT JOIN install_attempt a ON a.rollout_instance_id = ri.id AND a.attempt_no = ri.attempt_count
      WHERE ri.id = ${input.rolloutInstanceId}
      FOR UPDATE OF ri`;
    const row = rows[0];
    if (!row) return { kind: 'missing' };
    const inFlight = row.attempt_id !== null && row.finished_at === null;
    const staleAt = row.started_at ? row.started_at.getTime() + input.staleAfterMs : 0;
    const previousAttemptStale = !inFlight || now.getTime() >= staleAt;
    const decision = decideInstance(row.state, {
      type: 'claim',
      previousAttemptStale,
      rolloutStatus: row.rollout_status,
      timedOut: isTimedOut(row.instance_started_at, input.instanceTimeoutMs ?? null, now),
    });
    if (decision.type === 'ignore') return { kind: 'final', state: row.state };
    if (decision.type === 'wait') return row.rollout_status === 'paused' && !inFlight ? { kind: 'paused' } : { kind: 'busy', retryAt: new Date(staleAt) };

    let abandonedAttemptNo: number | null = null;
    if (inFlight && row.attempt_id !== null) {
      await tx.$executeRaw`
        UPDATE install_attempt SET outcome = 'abandoned', outcome_kind = 'abandoned', finished_at = ${now},
          error_message = 'worker stopped before recording the answer'
        WHERE id = ${row.attempt_id} AND finished_at IS NULL`;
      abandonedAttemptNo = row.attempt_count;
    }
    if (decision.to !== 'in_progress') {
      const timedOut = decision.to === 'failed';
      const moved = await tx.$executeRaw`
        UPDATE rollout_instance SET state = ${decision.to}::"InstanceState", finished_at = ${now}, updated_at = ${now}, next_attempt_at = NULL,
          last_outcome = ${timedOut ? 'timed_out' : 'cancelled'},
          last_error_code = CASE WHEN ${timedOut} THEN 'InstanceTimeout' ELSE last_error_code END,
          last_error_message = CASE WHEN ${timedOut} THEN ${`no final answer within the instance timeout of ${input.instanceTimeoutMs ?? 0} ms`} ELSE last_error_message END,
          needs_manual_install = ${timedOut}, manual_install_reason = ${timedOut ? 'timed_out' : null}
        WHERE id = ${input.rolloutInstanceId} AND state::text = ${decision.from} AND attempt_count = ${row.attempt_count}`;
      if (moved !== 1) throw new Error('guarded close lost a race while holding the row lock');
      return { kind: 'closed', to: decision.to, reason: decision.reason };
    }
    const attemptNo = row.attempt_count + 1;
    const moved = await tx.$executeRaw`
      UPDATE rollout_instance
      SET state = 'in_progress', attempt_count = ${attemptNo}, started_at = coalesce(started_at, ${now}),
          next_attempt_at = NULL, updated_at = ${now}
      WHERE id = ${input.rolloutInstanceId} AND state::text = ${decision.from} AND attempt_count = ${row.attempt_count}`;
    if (moved !== 1) throw new Error('guarded claim lost a race while holding the row lock');
    const inserted = await tx.$queryRaw<{ id: bigint }[]>`
      INSERT INTO install_attempt (rollout_instance_id, rollout_id, attempt_no, started_at, worker_id)
      VALUES (${input.rolloutInstanceId}, ${input.rolloutId}::uuid, ${attemptNo}, ${now}, ${input.workerId})
      RETURNING id`;
    return { kind: 'claimed', attemptId: inserted[0]!.id, attemptNo, abandonedAttemptNo };
  });
}

/**
 * The common case in one statement: a `pending` instance of a `running` rollout whose in-progress time has not run
 * out. For exactly those inputs the state machine's decision is `pending -> in_progress` (decideInstance, 'claim'),
 * so the statement's WHERE clause is that decision's guard. Anything else (a stale in-flight attempt, a paused or
 * cancelled rollout, a timeout) returns null and takes the general path, which asks the state machine.
 */
async function claimPendingFast(
  db: Database,
  input: { rolloutInstanceId: bigint; rolloutId: string; workerId: string; instanceTimeoutMs?: number | null },
  now: Date,
): Promise<ClaimResult | null> {
  const timeoutMs = input.instanceTimeoutMs ?? null;
  const rows = await db.$queryRaw<{ id: bigint; attempt_no: number }[]>`
    WITH claimed AS (
      UPDATE rollout_instance ri
      SET state = 'in_progress', attempt_count = ri.attempt_count + 1, started_at = coalesce(ri.started_at, ${now}),
          next_attempt_at = NULL, updated_at = ${now}
      FROM rollout r
      WHERE ri.id = ${input.rolloutInstanceId} AND ri.state = 'pending' AND r.id = ri.rollout_id AND r.status = 'running'
        AND (${timeoutMs}::int IS NULL OR ri.started_at IS NULL OR ri.started_at + make_interval(secs => ${timeoutMs}::int / 1000.0) > ${now})
      RETURNING ri.id, ri.attempt_count)
    INSERT INTO install_attempt (rollout_instance_id, rollout_id, attempt_no, started_at, worker_id)
    SELECT id, ${input.rolloutId}::uuid, attempt_count, ${now}, ${input.workerId} FROM claimed
    RETURNING id, attempt_no`;
  const row = rows[0];
  return row ? { kind: 'claimed', attemptId: row.id, attemptNo: row.attempt_no, abandonedAttemptNo: null } : null;
}

export type AttemptAnswer = {
  finishedAt: Date;
  durationMs: number;
  httpStatus: number | null;
  success: boolean | null;
  errorCode: string | null;
  errorMessage: string | null;
  requestId: string | null;
  outcome: AttemptOutcomeClass;
  /** The client's finer classification (throttled, fleet_wide, ...). */
  outcomeKind: string;
};

export type FinishResult =
  /** The instance moved (`to`): succeeded, failed, or back to pending for a retry. */
  | { kind: 'transitioned'; to: InstanceState; reason: string }
  /** The answer was recorded on its attempt row, but the instance had moved on (a newer attempt, or final). */
  | { kind: 'recorded_only' }
  /** This attempt's answer was already recorded: a duplicate delivery. Nothing changed. */
  | { kind: 'duplicate' };

/**
 * Records a call's answer on its attempt row and moves the instance, in one transaction. A real answer replaces
 * an `abandoned` presumption; it never replaces another real answer.
 */
export async function finishAttempt(
  db: Database,
  input: {
    rolloutInstanceId: bigint;
    attemptId: bigint;
    attemptNo: number;
    maxAttempts: number;
    answer: AttemptAnswer;
    /** For a retry: when the next attempt is due. */
    nextAttemptAt: Date | null;
    manualInstallReason?: string | null;
    /** What the answer means for the instance; default the answer's outcome. `deferred` for fleet-wide errors. */
    verdict?: AttemptVerdict;
    /** The rollout's per-instance in-progress timeout, in ms (null: none). */
    instanceTimeoutMs?: number | null;
  },
): Promise<FinishResult> {
  const a = input.answer;
  const verdict = input.verdict ?? a.outcome;
  const timeoutMs = input.instanceTimeoutMs ?? null;
  const decidedAt = input.nextAttemptAt ?? a.finishedAt;

  // Common case in one statement: the instance is in_progress on this very attempt, its rollout is running and its
  // time has not run out. The state machine's decision for exactly those inputs is computed here and written with
  // those inputs as the guard; if any does not hold, the general path below re-reads and asks again.
  const expected = decideInstance('in_progress', { type: 'attempt_finished', outcome: verdict, attemptNo: input.attemptNo, maxAttempts: input.maxAttempts, rolloutStatus: 'running', timedOut: false });
  if (expected.type === 'transition') {
    const to = expected.to;
    const isFinal = to !== 'pending';
    const manual = to === 'failed' ? (input.manualInstallReason ?? null) : null;
    const rows = await db.$queryRaw<{ recorded: bigint; moved: bigint }[]>`
      WITH recorded AS (
        UPDATE install_attempt SET
          finished_at = ${a.finishedAt}, duration_ms = ${a.durationMs}, http_status = ${a.httpStatus}, success = ${a.success},
          error_code = ${a.errorCode}, error_message = ${a.errorMessage}, request_id = ${a.requestId},
          outcome = ${a.outcome}::"AttemptOutcome", outcome_kind = ${a.outcomeKind}
        WHERE id = ${input.attemptId} AND (finished_at IS NULL OR outcome = 'abandoned')
        RETURNING id),
      moved AS (
        UPDATE rollout_instance ri SET
          state = ${to}::"InstanceState",
          last_outcome = ${a.outcomeKind}, last_http_status = ${a.httpStatus}, last_error_code = ${a.errorCode},
          last_error_message = ${a.errorMessage}, last_request_id = ${a.requestId},
          next_attempt_at = ${isFinal ? null : input.nextAttemptAt},
          finished_at = ${isFinal ? a.finishedAt : null},
          needs_manual_install = ${manual !== null}, manual_install_reason = ${manual},
          updated_at = now()
        FROM rollout r
        WHERE ri.id = ${input.rolloutInstanceId} AND EXISTS (SELECT 1 FROM recorded)
          AND ri.state = 'in_progress' AND ri.attempt_count = ${input.attemptNo}
          AND r.id = ri.rollout_id AND r.status = 'running'
          AND (${timeoutMs}::int IS NULL OR ri.started_at IS NULL OR ri.started_at + make_interval(secs => ${timeoutMs}::int / 1000.0) > ${decidedAt})
        RETURNING ri.id)
      SELECT (SELECT count(*) FROM recorded) AS recorded, (SELECT count(*) FROM moved) AS moved`;
    const row = rows[0]!;
    if (Number(row.recorded) === 0) return { kind: 'duplicate' };
    if (Number(row.moved) === 1) return { kind: 'transitioned', to, reason: expected.reason };
    // Recorded, but the instance is not where the fast path assumed: decide from what is there.
    return moveInstanceAfterAnswer(db, input, verdict, timeoutMs, decidedAt);
  }
  const recorded = await db.$executeRaw`
    UPDATE install_attempt SET
      finished_at = ${a.finishedAt}, duration_ms = ${a.durationMs}, http_status = ${a.httpStatus}, success = ${a.success},
      error_code = ${a.errorCode}, error_message = ${a.errorMessage}, request_id = ${a.requestId},
      outcome = ${a.outcome}::"AttemptOutcome", outcome_kind = ${a.outcomeKind}
    WHERE id = ${input.attemptId} AND (finished_at IS NULL OR outcome = 'abandoned')`;
  if (recorded !== 1) return { kind: 'duplicate' };
  return moveInstanceAfterAnswer(db, input, verdict, timeoutMs, decidedAt);
}

type FinishInput = Parameters<typeof finishAttempt>[1];

/** The general path: lock the instance, read it and its rollout, ask the state machine, write with a guard. */
async function moveInstanceAfterAnswer(db: Database, input: FinishInput, verdict: AttemptVerdict, timeoutMs: number | null, decidedAt: Date): Promise<FinishResult> {
  const a = input.answer;
  return db.$transaction(async (tx) => {
    const rows = await tx.$queryRaw<{ state: InstanceState; attempt_count: number; started_at: Date | null; rollout_status: RolloutStatus }[]>`
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
    const manual = decision.to === 'failed' ? (decision.reason === 'instance timed out' ? 'timed_out' : (input.manualInstallReason ?? null)) : null;
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
    return { kind: 'transitioned', to: decision.to, reason: decision.reason };
  });
}
