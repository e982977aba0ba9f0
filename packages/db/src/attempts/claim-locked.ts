import type { InstanceState, RolloutStatus } from '@fleet/rollout-domain';
import { decideInstance } from '@fleet/rollout-domain';
import type { Database } from '../client.ts';
import { GuardedWriteRaceError } from '../errors.ts';
import { isTimedOut } from './instance-timeout.ts';
import { manualInstallReasonAfter } from './manual-install-reason.ts';
import type { ClaimInput, ClaimResult } from './types.ts';

/**
 * A replay is sent only while CloudMonitor still remembers the nonce and accepts the timestamp (15 minutes either
 * way); one minute of margin for clock skew. An older attempt is abandoned without knowing whether its call arrived.
 */
export const REPLAY_WINDOW_MS = 14 * 60_000;

type ClaimRow = {
  state: InstanceState;
  attempt_count: number;
  instance_started_at: Date | null;
  rollout_status: RolloutStatus;
  /** The scheduler's bound on new calls (a maintenance window's end less its cutoff); null: none. */
  calls_until: Date | null;
  attempt_id: bigint | null;
  /** When the attempt's call, or the latest replay of it, began: what staleness is measured from. */
  busy_since: Date | null;
  finished_at: Date | null;
  signature_nonce: string | null;
  signed_at: Date | null;
  credentials_id: bigint | null;
};

/** Under the row lock no other writer can move the row: a guarded write that finds it moved is a broken invariant. */
const lostRace = (table: 'rollout_instance' | 'install_attempt', id: bigint, write: string) =>
  new GuardedWriteRaceError(table, String(id), `${write} lost a race while holding the row lock`);

/** The general path of a claim: lock the instance, read it, its rollout and its last attempt, ask the state machine. */
export async function claimAttemptLocked(db: Database, input: ClaimInput, now: Date): Promise<ClaimResult> {
  return db.prisma.$transaction(async (tx) => {
    const rows = await tx.$queryRaw<ClaimRow[]>`
      SELECT ri.state::text AS state, ri.attempt_count, ri.started_at AS instance_started_at, r.status::text AS rollout_status,
             r.calls_until, a.id AS attempt_id, coalesce(a.replay_started_at, a.started_at) AS busy_since, a.finished_at,
             a.signature_nonce, a.signed_at, a.credentials_id
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
      // The window's end is the scheduler's, compared with the claim's time (the worker's Postgres-aligned clock).
      outsideWindow: row.calls_until !== null && row.calls_until.getTime() <= (input.windowNow ?? now).getTime(),
    });
    if (decision.type === 'ignore') return { kind: 'final', state: row.state };
    if (decision.type === 'wait')
      return decision.cause !== 'attempt_in_flight' && !inFlight
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
      if (marked !== 1) throw lostRace('install_attempt', row.attempt_id, 'guarded replay');
      return {
        kind: 'replay',
        attemptId: row.attempt_id,
        attemptNo: row.attempt_count,
        signing: { nonce: row.signature_nonce!, timestamp: row.signed_at! },
        credentialsId: row.credentials_id,
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
      if (moved !== 1) throw lostRace('rollout_instance', input.rolloutInstanceId, 'guarded close');
      return { kind: 'closed', to: decision.to, cause: decision.cause, reason: decision.reason };
    }
    const attemptNo = row.attempt_count + 1;
    const moved = await tx.$executeRaw`
      UPDATE rollout_instance
      SET state = 'in_progress', attempt_count = ${attemptNo}, started_at = coalesce(started_at, ${now}),
          next_attempt_at = NULL, updated_at = ${now}
      WHERE id = ${input.rolloutInstanceId} AND state::text = ${decision.from} AND attempt_count = ${row.attempt_count}`;
    if (moved !== 1) throw lostRace('rollout_instance', input.rolloutInstanceId, 'guarded claim');
    const nonce = input.signatureNonce ?? null;
    const inserted = await tx.$queryRaw<{ id: bigint }[]>`
      INSERT INTO install_attempt (rollout_instance_id, rollout_id, attempt_no, started_at, worker_id, signature_nonce, signed_at,
        credentials_id)
      VALUES (${input.rolloutInstanceId}, ${input.rolloutId}::uuid, ${attemptNo}, ${now}, ${input.workerId}, ${nonce}, ${nonce === null ? null : now},
        ${input.credentialsId ?? null})
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
