import { assertNever } from '@fleet/errors';
import type {
  AttemptOutcomeClass,
  AttemptVerdict,
  InstanceState,
  InstanceTransitionCause,
  RolloutStatus,
} from '@fleet/rollout-domain';
import { decideInstance } from '@fleet/rollout-domain';
import type { Database } from './client.ts';
import type { GroupCommitOptions } from './group-commit.ts';
import { createGroupCommit } from './group-commit.ts';

/**
 * The install path's writes. Delivery is at-least-once (a job can run twice), so both steps are idempotent:
 * an attempt row is unique per (instance, attempt number), and every instance transition is guarded on the state
 * and attempt count it was decided from.
 */

/** What an attempt's request is signed with: fixed at claim, so the very same request can be sent again. */
export type AttemptSigning = { nonce: string; timestamp: Date };

export type ClaimResult =
  /** A new attempt: make the call, signed with `signing` when the claim was given a nonce. */
  | {
      kind: 'claimed';
      attemptId: bigint;
      attemptNo: number;
      abandonedAttemptNo: number | null;
      signing: AttemptSigning | null;
    }
  /**
   * The instance's last attempt belongs to a worker that died after claiming it: whether its call reached
   * CloudMonitor is unknown. Send exactly its request again (`signing`, no re-sign). `SignatureNonceUsed` means the
   * first copy arrived: record that with markAttemptAnswerLost and claim again (attempt N+1). Any other answer is
   * this attempt's one real call: record it on this attempt.
   */
  | { kind: 'replay'; attemptId: bigint; attemptNo: number; signing: AttemptSigning }
  /** The instance is final: nothing to do (a duplicate delivery, or a repair raced us). */
  | { kind: 'final'; state: InstanceState }
  /** The claim itself ended the instance: its rollout was cancelled, or its in-progress timeout passed. */
  | { kind: 'closed'; to: InstanceState; cause: InstanceTransitionCause; reason: string }
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
  /** When the attempt's call, or the latest replay of it, began: what staleness is measured from. */
  busy_since: Date | null;
  finished_at: Date | null;
  signature_nonce: string | null;
  signed_at: Date | null;
};

/**
 * A replay is sent only while CloudMonitor still remembers the nonce and accepts the timestamp (15 minutes either
 * way); one minute of margin for clock skew. An older attempt is abandoned without knowing whether its call arrived.
 */
export const REPLAY_WINDOW_MS = 14 * 60_000;

/** True when an instance first started at `startedAt` has run out of its in-progress time by `at`. */
function isTimedOut(startedAt: Date | null, timeoutMs: number | null, at: Date): boolean {
  return timeoutMs !== null && startedAt !== null && at.getTime() >= startedAt.getTime() + timeoutMs;
}

/**
 * Starts attempt N+1 of an instance: writes the attempt row (started, unfinished, with the nonce and timestamp its
 * request will be signed with) before the HTTP call is made, so that a call whose worker dies still leaves its row.
 * An unfinished attempt whose call (or latest replay) began more than `staleAfterMs` ago belongs to a dead worker:
 * if it was signed within REPLAY_WINDOW_MS the claim answers `replay` (send the same request again, see
 * ClaimResult); otherwise it is marked `abandoned` and a new attempt begins.
 */
export async function claimAttempt(db: Database, input: ClaimInput): Promise<ClaimResult> {
  const now = input.now ?? new Date();
  const [fast] = await claimPendingMany(db, [{ ...input, now }]);
  return fast ?? claimAttemptLocked(db, input, now);
}

export type ClaimInput = {
  rolloutInstanceId: bigint;
  rolloutId: string;
  workerId: string;
  /**
   * SignatureNonce for the new attempt's request (its Timestamp is `now`), stored on the attempt row so the request
   * can be replayed. Without one the attempt cannot be replayed, and a dead worker's attempt is simply abandoned.
   */
  signatureNonce?: string;
  staleAfterMs: number;
  /** The rollout's per-instance in-progress timeout, in ms (null: none). */
  instanceTimeoutMs?: number | null;
  now?: Date;
};

/** The general path of a claim: lock the instance, read it, its rollout and its last attempt, ask the state machine. */
async function claimAttemptLocked(db: Database, input: ClaimInput, now: Date): Promise<ClaimResult> {
  return db.prisma.$transaction(async (tx) => {
    const rows = await tx.$queryRaw<ClaimRow[]>`
      SELECT ri.state::text AS state, ri.attempt_count, ri.started_at AS instance_started_at, r.status::text AS rollout_status,
             a.id AS attempt_id, coalesce(a.replay_started_at, a.started_at) AS busy_since, a.finished_at, a.signature_nonce, a.signed_at
      FROM rollout_instance ri
      JOIN rollout r ON r.id = ri.rollout_id
      LEFT JOIN install_attempt a ON a.rollout_instance_id = ri.id AND a.attempt_no = ri.attempt_count
      WHERE ri.id = ${input.rolloutInstanceId}
      FOR UPDATE OF ri`;
    const row = rows[0];
    if (!row) return { kind: 'missing' };
    const inFlight = row.attempt_id !== null && row.finished_at === null;
    const staleAt = row.busy_since ? row.busy_since.getTime() + input.staleAfterMs : 0;
    const previousAttemptStale = !inFlight || now.getTime() >= staleAt;
    const decision = decideInstance(row.state, {
      type: 'claim',
      previousAttemptStale,
      rolloutStatus: row.rollout_status,
      timedOut: isTimedOut(row.instance_started_at, input.instanceTimeoutMs ?? null, now),
    });
    if (decision.type === 'ignore') return { kind: 'final', state: row.state };
    if (decision.type === 'wait')
      return row.rollout_status === 'paused' && !inFlight
        ? { kind: 'paused' }
        : { kind: 'busy', retryAt: new Date(staleAt) };

    const replayable =
      inFlight &&
      row.signature_nonce !== null &&
      row.signed_at !== null &&
      now.getTime() - row.signed_at.getTime() < REPLAY_WINDOW_MS;
    if (decision.to === 'in_progress' && replayable && row.attempt_id !== null) {
      // The instance stays in_progress on this attempt; the replay's start makes it busy again for staleAfterMs.
      const marked = await tx.$executeRaw`
        UPDATE install_attempt SET replay_started_at = ${now}, replayed_by = ${input.workerId}
        WHERE id = ${row.attempt_id} AND finished_at IS NULL`;
      if (marked !== 1) throw new Error('guarded replay lost a race while holding the row lock');
      return {
        kind: 'replay',
        attemptId: row.attempt_id,
        attemptNo: row.attempt_count,
        signing: { nonce: row.signature_nonce!, timestamp: row.signed_at! },
      };
    }
    let abandonedAttemptNo: number | null = null;
    if (inFlight && row.attempt_id !== null) {
      const why =
        row.signature_nonce === null
          ? 'worker stopped before recording the answer'
          : 'worker stopped before recording the answer; too long ago to ask CloudMonitor whether the call arrived';
      await tx.$executeRaw`
        UPDATE install_attempt SET outcome = 'abandoned', outcome_kind = 'abandoned', finished_at = ${now}, error_message = ${why}
        WHERE id = ${row.attempt_id} AND finished_at IS NULL`;
      abandonedAttemptNo = row.attempt_count;
    }
    if (decision.to !== 'in_progress') {
      const timedOut = decision.cause === 'timed_out';
      const moved = await tx.$executeRaw`
        UPDATE rollout_instance SET state = ${decision.to}::"InstanceState", finished_at = ${now}, updated_at = ${now}, next_attempt_at = NULL,
          last_outcome = ${timedOut ? 'timed_out' : 'cancelled'},
          last_error_code = CASE WHEN ${timedOut} THEN 'InstanceTimeout' ELSE last_error_code END,
          last_error_message = CASE WHEN ${timedOut}
            THEN ${`no final answer within the instance timeout of ${input.instanceTimeoutMs ?? 0} ms`}
            ELSE last_error_message END,
          needs_manual_install = ${timedOut}, manual_install_reason = ${manualInstallReasonAfter(decision.cause, null)}
        WHERE id = ${input.rolloutInstanceId} AND state::text = ${decision.from} AND attempt_count = ${row.attempt_count}`;
      if (moved !== 1) throw new Error('guarded close lost a race while holding the row lock');
      return { kind: 'closed', to: decision.to, cause: decision.cause, reason: decision.reason };
    }
    const attemptNo = row.attempt_count + 1;
    const moved = await tx.$executeRaw`
      UPDATE rollout_instance
      SET state = 'in_progress', attempt_count = ${attemptNo}, started_at = coalesce(started_at, ${now}),
          next_attempt_at = NULL, updated_at = ${now}
      WHERE id = ${input.rolloutInstanceId} AND state::text = ${decision.from} AND attempt_count = ${row.attempt_count}`;
    if (moved !== 1) throw new Error('guarded claim lost a race while holding the row lock');
    const nonce = input.signatureNonce ?? null;
    const inserted = await tx.$queryRaw<{ id: bigint }[]>`
      INSERT INTO install_attempt (rollout_instance_id, rollout_id, attempt_no, started_at, worker_id, signature_nonce, signed_at)
      VALUES (${input.rolloutInstanceId}, ${input.rolloutId}::uuid, ${attemptNo}, ${now}, ${input.workerId}, ${nonce}, ${nonce === null ? null : now})
      RETURNING id`;
    return {
      kind: 'claimed',
      attemptId: inserted[0]!.id,
      attemptNo,
      abandonedAttemptNo,
      signing: nonce === null ? null : { nonce, timestamp: now },
    };
  });
}

/**
 * The common case, for many claims in one statement (one round trip, one commit): a `pending` instance of a
 * `running` rollout whose in-progress time has not run out. For exactly those inputs the state machine's decision is
 * `pending -> in_progress` (decideInstance, 'claim'), so the statement's WHERE clause is that decision's guard.
 * Anything else (a stale in-flight attempt, a paused or cancelled rollout, a timeout) answers null and must take the
 * general path, which asks the state machine. An instance named twice answers null the second time (the general
 * path then sees the first claim), so one statement never claims an instance twice.
 */
async function claimPendingMany(db: Database, inputs: (ClaimInput & { now: Date })[]): Promise<(ClaimResult | null)[]> {
  const plan = planClaims(inputs);
  if (!plan.values) return plan.settle([]);
  const { rows } = await db.installPath.query<ClaimedRow>({
    name: CLAIMS.name,
    text: CLAIMS.text,
    values: plan.values,
  });
  return plan.settle(rows);
}

type ClaimedRow = { id: string; rollout_instance_id: string; attempt_no: number };

/** The statement parameters of a batch of claims (null: nothing to send), and how to read its rows back per input. */
function planClaims(inputs: (ClaimInput & { now: Date })[]): {
  values: unknown[] | null;
  settle(rows: ClaimedRow[]): (ClaimResult | null)[];
} {
  const seen = new Set<bigint>();
  const batch = inputs.filter((input) => !seen.has(input.rolloutInstanceId) && seen.add(input.rolloutInstanceId));
  return {
    values:
      batch.length === 0
        ? null
        : [
            batch.map((i) => String(i.rolloutInstanceId)),
            batch.map((i) => i.workerId),
            batch.map((i) => i.instanceTimeoutMs ?? null),
            batch.map((i) => i.now),
            batch.map((i) => i.signatureNonce ?? null),
          ],
    settle(rows) {
      const claimed = new Map(rows.map((row) => [BigInt(row.rollout_instance_id), row]));
      return inputs.map((input) => {
        const row = claimed.get(input.rolloutInstanceId);
        if (!row) return null;
        claimed.delete(input.rolloutInstanceId);
        const nonce = input.signatureNonce;
        return {
          kind: 'claimed',
          attemptId: BigInt(row.id),
          attemptNo: row.attempt_no,
          abandonedAttemptNo: null,
          signing: nonce === undefined ? null : { nonce, timestamp: input.now },
        };
      });
    },
  };
}

/**
 * The statements of the install path that run for every job go to pg directly, as named (prepared) statements: no
 * Prisma per-query cost in the worker (see Database.pool) and no parse and plan per batch in Postgres (on connections of
 * their own, whose settings leave the planner one plan shape: see INSTALL_PATH_SESSION in client.ts). That shape is
 * rows of a batch's input hashed, and the rows they name fetched by primary key (`ri.id = ANY(...)`), whatever the
 * statistics say; the rollout's status is a sub-select on its primary key. The state guards compare `state::text`,
 * which no index can serve: written `state = 'pending'`, a plan made while the table was small walked the
 * (rollout_id, wave_no, state) index over every pending instance for each batch.
 *
 * The claim of a batch, parameters $at..$at+4, as CTEs ending in `claim_inserted(id, rollout_instance_id, attempt_no)`.
 */
const CLAIM_PARAMS = 5;
/** Parameters of finishCtes. */
const FINISH_PARAMS = 17;
const claimCtes = (at: number) => `
  claim_input AS (
    SELECT * FROM unnest($${at}::bigint[], $${at + 1}::text[], $${at + 2}::int[], $${at + 3}::timestamptz[], $${at + 4}::text[])
      AS t(id, worker_id, timeout_ms, now, nonce)),
  claimed AS (
    UPDATE rollout_instance ri
    SET state = 'in_progress', attempt_count = ri.attempt_count + 1, started_at = coalesce(ri.started_at, i.now),
        next_attempt_at = NULL, updated_at = i.now
    FROM claim_input i
    WHERE ri.id = ANY($${at}::bigint[]) AND ri.id = i.id AND ri.state::text = 'pending'
      AND (SELECT r.status FROM rollout r WHERE r.id = ri.rollout_id) = 'running'
      AND (i.timeout_ms IS NULL OR ri.started_at IS NULL OR ri.started_at + make_interval(secs => i.timeout_ms / 1000.0) > i.now)
    RETURNING ri.id, ri.rollout_id, ri.attempt_count, i.worker_id, i.now, i.nonce),
  claim_inserted AS (
    INSERT INTO install_attempt (rollout_instance_id, rollout_id, attempt_no, started_at, worker_id, signature_nonce, signed_at)
    SELECT id, rollout_id, attempt_count, now, worker_id, nonce, CASE WHEN nonce IS NULL THEN NULL ELSE now END FROM claimed
    RETURNING id, rollout_instance_id, attempt_no)`;

const CLAIM_PENDING_MANY = `WITH ${claimCtes(1)}
  SELECT id::text, rollout_instance_id::text, attempt_no FROM claim_inserted`;

/**
 * The replay of an attempt's exact request was refused with `SignatureNonceUsed`: the first copy reached
 * CloudMonitor, and its answer died with its worker. The attempt is closed as `abandoned` (kind `answer_lost`, so a
 * report can tell it from an attempt whose call may never have been made) and the next claim starts attempt N+1.
 * Guarded: only an attempt still unfinished is closed; false when something else recorded it first.
 */
export async function markAttemptAnswerLost(
  db: Database,
  input: { attemptId: bigint; at: Date; replayRequestId: string | null },
): Promise<boolean> {
  const message =
    'the call reached CloudMonitor but its worker stopped before recording the answer ' +
    `(a replay of the same request was refused with SignatureNonceUsed${input.replayRequestId ? `, RequestId ${input.replayRequestId}` : ''})`;
  const changed = await db.prisma.$executeRaw`
    UPDATE install_attempt SET outcome = 'abandoned', outcome_kind = 'answer_lost', finished_at = ${input.at}, error_message = ${message}
    WHERE id = ${input.attemptId} AND finished_at IS NULL`;
  return changed === 1;
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
  | { kind: 'transitioned'; to: InstanceState; cause: InstanceTransitionCause; reason: string }
  /** The answer was recorded on its attempt row, but the instance had moved on (a newer attempt, or final). */
  | { kind: 'recorded_only' }
  /** This attempt's answer was already recorded: a duplicate delivery. Nothing changed. */
  | { kind: 'duplicate' };

export type FinishInput = {
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
};

/**
 * Records a call's answer on its attempt row and moves the instance, in one transaction. A real answer replaces
 * an `abandoned` presumption; it never replaces another real answer.
 */
export async function finishAttempt(db: Database, input: FinishInput): Promise<FinishResult> {
  const [fast] = await finishInProgressMany(db, [input]);
  return settleFinish(db, input, fast!);
}

/** What the one-statement path left to do: `general` (it did not apply) or `recorded` (answer stored, instance not moved). */
type FastFinish = FinishResult | 'general' | 'recorded';

function finishFacts(input: FinishInput) {
  const verdict = input.verdict ?? input.answer.outcome;
  return {
    verdict,
    timeoutMs: input.instanceTimeoutMs ?? null,
    decidedAt: input.nextAttemptAt ?? input.answer.finishedAt,
  };
}

async function settleFinish(db: Database, input: FinishInput, fast: FastFinish): Promise<FinishResult> {
  if (fast !== 'general' && fast !== 'recorded') return fast;
  const { verdict, timeoutMs, decidedAt } = finishFacts(input);
  if (fast === 'general') {
    const a = input.answer;
    const recorded = await db.prisma.$executeRaw`
      UPDATE install_attempt SET
        finished_at = ${a.finishedAt}, duration_ms = ${a.durationMs}, http_status = ${a.httpStatus}, success = ${a.success},
        error_code = ${a.errorCode}, error_message = ${a.errorMessage}, request_id = ${a.requestId},
        outcome = ${a.outcome}::"AttemptOutcome", outcome_kind = ${a.outcomeKind}
      WHERE id = ${input.attemptId} AND (finished_at IS NULL OR outcome = 'abandoned')`;
    if (recorded !== 1) return { kind: 'duplicate' };
  }
  // Recorded, but the instance is not where the one-statement path assumed: decide from what is there.
  return moveInstanceAfterAnswer(db, input, verdict, timeoutMs, decidedAt);
}

/**
 * The common case, for many answers in one statement (one round trip, one commit): the instance is in_progress on
 * this very attempt, its rollout is running and its time has not run out. The state machine's decision for exactly
 * those inputs is computed here and written with those inputs as the guard; where any does not hold the answer is
 * still recorded and `recorded` tells the caller to decide from what is there. Inputs whose decision is not a
 * transition, and a second answer for the same instance or attempt, answer `general`.
 */
async function finishInProgressMany(db: Database, inputs: FinishInput[]): Promise<FastFinish[]> {
  const plan = planFinishes(inputs);
  if (!plan.values) return plan.settle([]);
  const { rows } = await db.installPath.query<FinishRow>({
    name: FINISHES.name,
    text: FINISHES.text,
    values: plan.values,
  });
  return plan.settle(rows);
}

type FinishRow = { attempt_id: string; recorded: boolean; moved: boolean };

/** The statement parameters of a batch of answers (null: nothing to send), and how to read its rows back per input. */
function planFinishes(inputs: FinishInput[]): { values: unknown[] | null; settle(rows: FinishRow[]): FastFinish[] } {
  const plans = inputs.map((input) => {
    const { verdict } = finishFacts(input);
    const expected = decideInstance('in_progress', {
      type: 'attempt_finished',
      outcome: verdict,
      attemptNo: input.attemptNo,
      maxAttempts: input.maxAttempts,
      rolloutStatus: 'running',
      timedOut: false,
    });
    return expected.type === 'transition'
      ? { input, to: expected.to, cause: expected.cause, reason: expected.reason }
      : null;
  });
  const instances = new Set<bigint>();
  const attempts = new Set<bigint>();
  const batch = plans.filter((plan): plan is NonNullable<typeof plan> => {
    if (!plan || instances.has(plan.input.rolloutInstanceId) || attempts.has(plan.input.attemptId)) return false;
    instances.add(plan.input.rolloutInstanceId);
    attempts.add(plan.input.attemptId);
    return true;
  });
  const col = <T>(pick: (plan: (typeof batch)[number]) => T) => batch.map(pick);
  return {
    values:
      batch.length === 0
        ? null
        : [
            col((p) => String(p.input.rolloutInstanceId)),
            col((p) => String(p.input.attemptId)),
            col((p) => p.input.attemptNo),
            col((p) => p.to),
            col((p) => p.input.answer.finishedAt),
            col((p) => p.input.answer.durationMs),
            col((p) => p.input.answer.httpStatus),
            col((p) => p.input.answer.success),
            col((p) => p.input.answer.errorCode),
            col((p) => p.input.answer.errorMessage),
            col((p) => p.input.answer.requestId),
            col((p) => p.input.answer.outcome),
            col((p) => p.input.answer.outcomeKind),
            col((p) => (p.to === 'pending' ? p.input.nextAttemptAt : null)),
            col((p) => manualInstallReasonAfter(p.cause, p.input.manualInstallReason ?? null)),
            col((p) => p.input.instanceTimeoutMs ?? null),
            col((p) => finishFacts(p.input).decidedAt),
          ],
    settle(rows) {
      const byAttempt = new Map(rows.map((row) => [BigInt(row.attempt_id), row]));
      const planned = new Map(batch.map((plan) => [plan.input.attemptId, plan]));
      return inputs.map((input): FastFinish => {
        const plan = planned.get(input.attemptId);
        if (!plan || plan.input !== input) return 'general';
        const row = byAttempt.get(input.attemptId);
        if (!row || !row.recorded) return { kind: 'duplicate' };
        return row.moved ? { kind: 'transitioned', to: plan.to, cause: plan.cause, reason: plan.reason } : 'recorded';
      });
    },
  };
}

/**
 * The answers of a batch, parameters $at..$at+16, as CTEs: each recorded on its attempt row (`finish_recorded`),
 * each instance moved with its guard (`finish_moved`). Plan shape and pg: see claimCtes.
 */
const finishCtes = (at: number) => {
  const p = (n: number) => `$${at + n - 1}`;
  return `
  finish_input AS (
    SELECT * FROM unnest(
      ${p(1)}::bigint[], ${p(2)}::bigint[], ${p(3)}::int[], ${p(4)}::text[], ${p(5)}::timestamptz[], ${p(6)}::int[], ${p(7)}::int[],
      ${p(8)}::boolean[], ${p(9)}::text[], ${p(10)}::text[], ${p(11)}::text[], ${p(12)}::text[], ${p(13)}::text[], ${p(14)}::timestamptz[],
      ${p(15)}::text[], ${p(16)}::int[], ${p(17)}::timestamptz[]
    ) AS t(instance_id, attempt_id, attempt_no, to_state, finished_at, duration_ms, http_status, success, error_code, error_message,
           request_id, outcome, outcome_kind, next_attempt_at, manual_reason, timeout_ms, decided_at)),
  finish_recorded AS (
    UPDATE install_attempt a SET
      finished_at = i.finished_at, duration_ms = i.duration_ms, http_status = i.http_status, success = i.success,
      error_code = i.error_code, error_message = i.error_message, request_id = i.request_id,
      outcome = i.outcome::"AttemptOutcome", outcome_kind = i.outcome_kind
    FROM finish_input i
    WHERE a.id = ANY(${p(2)}::bigint[]) AND a.id = i.attempt_id AND (a.finished_at IS NULL OR a.outcome = 'abandoned')
    RETURNING a.id),
  finish_moved AS (
    UPDATE rollout_instance ri SET
      state = i.to_state::"InstanceState",
      last_outcome = i.outcome_kind, last_http_status = i.http_status, last_error_code = i.error_code,
      last_error_message = i.error_message, last_request_id = i.request_id,
      next_attempt_at = i.next_attempt_at,
      finished_at = CASE WHEN i.to_state = 'pending' THEN NULL ELSE i.finished_at END,
      needs_manual_install = i.manual_reason IS NOT NULL, manual_install_reason = i.manual_reason,
      updated_at = now()
    FROM finish_input i
    WHERE ri.id = ANY(${p(1)}::bigint[]) AND ri.id = i.instance_id AND i.attempt_id IN (SELECT id FROM finish_recorded)
      AND ri.state::text = 'in_progress' AND ri.attempt_count = i.attempt_no
      AND (SELECT r.status FROM rollout r WHERE r.id = ri.rollout_id) = 'running'
      AND (i.timeout_ms IS NULL OR ri.started_at IS NULL OR ri.started_at + make_interval(secs => i.timeout_ms / 1000.0) > i.decided_at)
    RETURNING ri.id)`;
};

const finishRows = `
  SELECT i.attempt_id::text, i.attempt_id IN (SELECT id FROM finish_recorded) AS recorded, i.instance_id IN (SELECT id FROM finish_moved) AS moved
  FROM finish_input i`;

const FINISH_IN_PROGRESS_MANY = `WITH ${finishCtes(1)} ${finishRows}`;

/**
 * Claims and answers of one group commit in one statement: the claims' CTEs and the answers' CTEs touch different
 * rows (a claim needs a `pending` instance, an answer one `in_progress` on its attempt, both judged on the same
 * snapshot), so one round trip and one commit carry both.
 */
const WRITE_ATTEMPTS_MANY = `WITH ${claimCtes(1)}, ${finishCtes(1 + CLAIM_PARAMS)}
  SELECT 'claim' AS kind, rollout_instance_id::text AS key, id::text AS attempt_id, attempt_no, NULL::boolean AS recorded, NULL::boolean AS moved
  FROM claim_inserted
  UNION ALL
  SELECT 'finish', NULL, i.attempt_id::text, NULL, i.attempt_id IN (SELECT id FROM finish_recorded), i.instance_id IN (SELECT id FROM finish_moved)
  FROM finish_input i`;

/**
 * The install path's three batch statements: each is prepared once per connection under its name (so one name, one
 * text), and takes `params` arrays. Used by the batch functions and warmInstallPath; exported for the plan test only.
 */
const CLAIMS = { name: 'fleet_claim_pending_many', text: CLAIM_PENDING_MANY, params: CLAIM_PARAMS } as const;
const FINISHES = {
  name: 'fleet_finish_in_progress_many',
  text: FINISH_IN_PROGRESS_MANY,
  params: FINISH_PARAMS,
} as const;
const BOTH = {
  name: 'fleet_write_attempts_many',
  text: WRITE_ATTEMPTS_MANY,
  params: CLAIM_PARAMS + FINISH_PARAMS,
} as const;
export const INSTALL_PATH_STATEMENTS = { claims: CLAIMS, answers: FINISHES, both: BOTH } as const;

/** One group commit's claims and answers, in one statement when it has both. */
async function writeAttemptsMany(
  db: Database,
  claims: (ClaimInput & { now: Date })[],
  finishes: FinishInput[],
): Promise<{ claims: (ClaimResult | null)[]; finishes: FastFinish[] }> {
  const claimPlan = planClaims(claims);
  const finishPlan = planFinishes(finishes);
  if (!claimPlan.values || !finishPlan.values) {
    const [claimed, finished] = await Promise.all([
      claimPlan.values ? claimPendingMany(db, claims) : claimPlan.settle([]),
      finishPlan.values ? finishInProgressMany(db, finishes) : finishPlan.settle([]),
    ]);
    return { claims: claimed, finishes: finished };
  }
  const { rows } = await db.installPath.query<{
    kind: 'claim' | 'finish';
    key: string;
    attempt_id: string;
    attempt_no: number;
    recorded: boolean;
    moved: boolean;
  }>({
    name: BOTH.name,
    text: BOTH.text,
    values: [...claimPlan.values, ...finishPlan.values],
  });
  return {
    claims: claimPlan.settle(
      rows
        .filter((r) => r.kind === 'claim')
        .map((r) => ({ id: r.attempt_id, rollout_instance_id: r.key, attempt_no: r.attempt_no })),
    ),
    finishes: finishPlan.settle(
      rows
        .filter((r) => r.kind === 'finish')
        .map((r) => ({ attempt_id: r.attempt_id, recorded: r.recorded, moved: r.moved })),
    ),
  };
}

/**
 * What an instance that moved for `cause` is flagged for manual install with (null: not flagged). A timeout names
 * itself; a failure on an answer keeps the reason the worker read from that answer (`given`); nothing else flags.
 */
function manualInstallReasonAfter(cause: InstanceTransitionCause, given: string | null): string | null {
  switch (cause) {
    case 'timed_out':
      return 'timed_out';
    case 'permanent_failure':
    case 'retries_exhausted':
      return given;
    case 'attempt_started':
    case 'previous_attempt_abandoned':
    case 'rollout_closed':
    case 'rollout_cancelled':
    case 'install_succeeded':
    case 'transient_failure':
    case 'fleet_wide_error':
      return null;
    default:
      return assertNever(cause, 'instance transition cause');
  }
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

/**
 * Opens `connections` of the install path's connections and prepares its three batch statements on each, so that a
 * worker's first rollout does not wait for connections to open and statements to be parsed and planned while its
 * first jobs claim (tens of milliseconds each on the 2-core reference machine). Each statement runs once with empty
 * input: it touches no row. Best effort: a worker starts without it should Postgres not answer.
 */
export async function warmInstallPath(db: Database, connections = 2): Promise<void> {
  const pool = db.installPath;
  const clients = await Promise.all(Array.from({ length: connections }, () => pool.connect()));
  try {
    await Promise.all(
      clients.map(async (client) => {
        for (const { name, text, params } of Object.values(INSTALL_PATH_STATEMENTS)) {
          await client.query({ name, text, values: Array.from({ length: params }, () => []) });
        }
      }),
    );
  } finally {
    for (const client of clients) client.release();
  }
}

export type AttemptWriter = {
  /** Same contract as claimAttempt; the common case is group-committed with the writes of concurrent jobs. */
  claim(input: ClaimInput): Promise<ClaimResult>;
  /** Same contract as finishAttempt; the common case is group-committed with the writes of concurrent jobs. */
  finish(input: FinishInput): Promise<FinishResult>;
};

/** Times a batch statement is re-run after Postgres aborted it as a deadlock victim or serialization failure. */
const CONFLICT_RETRIES = 3;

/** Deadlock (40P01) or serialization failure (40001): the statement was rolled back whole and may simply run again. */
function isTransientConflict(error: unknown): boolean {
  for (let e: unknown = error, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const codes = [
      (e as { code?: unknown }).code,
      (e as { originalCode?: unknown }).originalCode,
      (e as { meta?: { code?: unknown } }).meta?.code,
    ];
    if (codes.some((c) => c === '40P01' || c === '40001')) return true;
    const message = e instanceof Error ? e.message : '';
    if (/deadlock detected|could not serialize access/i.test(message)) return true;
  }
  return false;
}

async function retryConflicts<T>(run: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await run();
    } catch (error) {
      if (attempt > CONFLICT_RETRIES || !isTransientConflict(error)) throw error;
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 10 * attempt));
    }
  }
}

/**
 * The install path's writes with group commit: the claims and answers of concurrent jobs in this process go to
 * Postgres together, one statement per batch (claims and answers in the same one), and each caller gets its own
 * result once that statement committed.
 * An attempt row is still written before its call is made, and an answer is still durable before its job is
 * acknowledged; only the number of commits shrinks. Each write that the one-statement path does not settle takes
 * the same general path as claimAttempt / finishAttempt, on its own.
 */
export function createAttemptWriter(db: Database, options: GroupCommitOptions = {}): AttemptWriter {
  type Write = { kind: 'claim'; input: ClaimInput & { now: Date } } | { kind: 'finish'; input: FinishInput };
  const writes = createGroupCommit(async (batch: Write[]): Promise<(ClaimResult | FastFinish | null)[]> => {
    const claims = batch.flatMap((w) => (w.kind === 'claim' ? [w.input] : []));
    const finishes = batch.flatMap((w) => (w.kind === 'finish' ? [w.input] : []));
    const results = await retryConflicts(() => writeAttemptsMany(db, claims, finishes));
    let c = 0;
    let f = 0;
    return batch.map((w) => (w.kind === 'claim' ? results.claims[c++]! : results.finishes[f++]!));
  }, options);
  return {
    async claim(input) {
      const now = input.now ?? new Date();
      const fast = (await writes.submit({ kind: 'claim', input: { ...input, now } })) as ClaimResult | null;
      return fast ?? claimAttemptLocked(db, input, now);
    },
    async finish(input) {
      return settleFinish(db, input, (await writes.submit({ kind: 'finish', input })) as FastFinish);
    },
  };
}
