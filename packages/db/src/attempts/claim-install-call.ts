import type { InstanceState, RolloutStatus } from '@fleet/rollout-domain';
import { decideInstance } from '@fleet/rollout-domain';
import type { Database } from '../client.ts';
import { claimInstallCallFast } from './claim-install-call-fast.ts';
import { GuardedWriteRaceError } from '../errors.ts';
import { REPLAY_WINDOW_MS } from './claim-locked.ts';
import { isTimedOut } from './instance-timeout.ts';
import { manualInstallReasonAfter } from './manual-install-reason.ts';
import type { InstallCallClaim, InstallCallInput } from './types.ts';

/**
 * The claim of the install-monitoring-agent driver: one InstallMonitoringAgent call names up to 10 instances of one
 * rollout, and this claim writes the attempt row of each of them (before the call, with the call's id, nonce and
 * timestamp) in one transaction.
 *
 * The job of an instance (the "leader") claims it as a NodeInstall claim would (decideInstance, the same guards),
 * and with it up to `maxInstances - 1` more pending instances of the rollout that no one holds
 * (`FOR UPDATE SKIP LOCKED`): their own jobs later find them in flight or final and end as duplicates do. The
 * rollout's concurrency counts instances: every claim of such a rollout first takes a transaction-scoped advisory
 * lock of the rollout, so the in-progress count it reads cannot change under it from another claim, and it claims no
 * more instances than the concurrency leaves free. Answers go down (in_progress -> pending or final) without the
 * lock, which only makes the count read high: the safe side.
 *
 * A leader whose attempt belongs to a call whose worker died replays that call: all its instances, in the order
 * they were sent, with the call's nonce and timestamp, so the gateway sees the very same request (SignatureNonceUsed
 * proves the first copy arrived). Every unfinished attempt of the call is marked as being replayed at once, so the
 * jobs of the call's other instances find them busy and wait, and the call is never sent by two workers.
 */
type LeaderRow = {
  state: InstanceState;
  instance_id: string;
  attempt_count: number;
  instance_started_at: Date | null;
  next_attempt_at: Date | null;
  rollout_status: RolloutStatus;
  calls_until: Date | null;
  concurrency: number;
  current_wave: number;
  attempt_id: bigint | null;
  busy_since: Date | null;
  finished_at: Date | null;
  signature_nonce: string | null;
  signed_at: Date | null;
  credentials_id: bigint | null;
  call_id: string | null;
};

type CallRow = {
  attempt_id: bigint;
  rollout_instance_id: bigint;
  instance_id: string;
  attempt_no: number;
  finished: boolean;
  busy_since: Date;
};

const lostRace = (id: bigint, write: string) =>
  new GuardedWriteRaceError('rollout_instance', String(id), `${write} lost a race while holding the row lock`);

/** Instances of one call, in the order of InstanceIds.1..N: by instance id, so a replay rebuilds the same list. */
function callOrder<T extends { instanceId: string }>(members: T[]): T[] {
  return [...members].sort((a, b) => (a.instanceId < b.instanceId ? -1 : a.instanceId > b.instanceId ? 1 : 0));
}

export async function claimInstallCall(db: Database, input: InstallCallInput): Promise<InstallCallClaim> {
  return (await claimInstallCallFast(db, input)) ?? claimInstallCallLocked(db, input);
}

/** The general path: under the rollout's lock, the leader's row locked and read, the state machine asked. */
async function claimInstallCallLocked(db: Database, input: InstallCallInput): Promise<InstallCallClaim> {
  const { now } = input;
  return db.prisma.$transaction(async (tx) => {
    // Claims of one rollout one at a time: the in-progress count below stays true until this commits.
    await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtextextended(${'fleet.install_call:' + input.rolloutId}, 0))`;
    const rows = await tx.$queryRaw<LeaderRow[]>`
      SELECT ri.state::text AS state, ri.instance_id, ri.attempt_count, ri.started_at AS instance_started_at,
             ri.next_attempt_at, r.status::text AS rollout_status, r.calls_until, r.concurrency, r.current_wave,
             a.id AS attempt_id, coalesce(a.replay_started_at, a.started_at) AS busy_since, a.finished_at,
             a.signature_nonce, a.signed_at, a.credentials_id, a.call_id::text AS call_id
      FROM rollout_instance ri
      JOIN rollout r ON r.id = ri.rollout_id
      LEFT JOIN install_attempt a ON a.rollout_instance_id = ri.id AND a.attempt_no = ri.attempt_count AND a.kind = 'install'
      WHERE ri.id = ${input.rolloutInstanceId}
      FOR UPDATE OF ri`;
    const row = rows[0];
    if (!row) return { kind: 'missing' };
    const inFlight = row.attempt_id !== null && row.finished_at === null;
    const staleAt = row.busy_since ? row.busy_since.getTime() + input.staleAfterMs : 0;
    const decision = decideInstance(row.state, {
      type: 'claim',
      previousAttemptStale: !inFlight || now.getTime() >= staleAt,
      rolloutStatus: row.rollout_status,
      timedOut: isTimedOut(row.instance_started_at, input.instanceTimeoutMs, now),
      outsideWindow: row.calls_until !== null && row.calls_until.getTime() <= input.windowNow.getTime(),
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
    if (decision.to === 'in_progress' && replayable && row.call_id !== null) {
      const call = await tx.$queryRaw<CallRow[]>`
        SELECT a.id AS attempt_id, a.rollout_instance_id, ri.instance_id, a.attempt_no, a.finished_at IS NOT NULL AS finished,
               coalesce(a.replay_started_at, a.started_at) AS busy_since
        FROM install_attempt a JOIN rollout_instance ri ON ri.id = a.rollout_instance_id
        WHERE a.call_id = ${row.call_id}::uuid
        ORDER BY ri.id
        FOR UPDATE OF ri`;
      const open = call.filter((c) => !c.finished);
      // A member's replay may have begun after the leader's own attempt went stale: the call is someone's again.
      const busyUntil = Math.max(...open.map((c) => c.busy_since.getTime() + input.staleAfterMs));
      if (busyUntil > now.getTime()) return { kind: 'busy', retryAt: new Date(busyUntil) };
      await tx.$executeRaw`
        UPDATE install_attempt SET replay_started_at = ${now}, replayed_by = ${input.workerId}
        WHERE call_id = ${row.call_id}::uuid AND finished_at IS NULL`;
      const members = open.map((c) => ({
        rolloutInstanceId: c.rollout_instance_id,
        instanceId: c.instance_id,
        attemptId: c.attempt_id,
        attemptNo: c.attempt_no,
      }));
      return {
        kind: 'replay',
        callId: row.call_id,
        signing: { nonce: row.signature_nonce!, timestamp: row.signed_at! },
        credentialsId: row.credentials_id,
        instanceIds: callOrder(call.map((c) => ({ instanceId: c.instance_id }))).map((c) => c.instanceId),
        members,
      };
    }

    // A new call: how many instances the rollout's concurrency leaves free (the leader's own slot, if it is in
    // progress on a dead worker's attempt, is already counted).
    if (decision.to === 'in_progress') {
      if (row.state === 'pending' && row.next_attempt_at !== null && row.next_attempt_at.getTime() > now.getTime())
        return { kind: 'not_due', at: row.next_attempt_at };
      const [{ n }] = await tx.$queryRaw<[{ n: number }]>`
        SELECT count(*)::int AS n FROM rollout_instance WHERE rollout_id = ${input.rolloutId}::uuid AND state = 'in_progress'`;
      const free = row.concurrency - n + (row.state === 'in_progress' ? 1 : 0);
      if (free <= 0) return { kind: 'full' };
      input = { ...input, maxInstances: Math.min(input.maxInstances, free) };
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
      if (moved !== 1) throw lostRace(input.rolloutInstanceId, 'guarded close');
      return { kind: 'closed', to: decision.to, cause: decision.cause, reason: decision.reason };
    }

    const moved = await tx.$executeRaw`
      UPDATE rollout_instance
      SET state = 'in_progress', attempt_count = ${row.attempt_count + 1}, started_at = coalesce(started_at, ${now}),
          next_attempt_at = NULL, updated_at = ${now}
      WHERE id = ${input.rolloutInstanceId} AND state::text = ${decision.from} AND attempt_count = ${row.attempt_count}`;
    if (moved !== 1) throw lostRace(input.rolloutInstanceId, 'guarded claim');
    // The others: pending instances of the waves allowed to run whose backoff is over, that no one holds. The same
    // guards as the one-statement claim (claimCtes): pending, the rollout running, within the window and the
    // instance's timeout; and, with skipInstalled, checked first (their jobs check them). Taken from the far end of
    // the rollout (highest ids): jobs run roughly in id order, so the jobs running next are leaders of calls of their
    // own, and those of the instances taken here come much later and find them final (one read, no admission). The
    // nearest ids instead are the jobs running at this moment: each would have asked the limits and the claim for
    // an instance another call just took.
    const others =
      input.maxInstances <= 1
        ? []
        : await tx.$queryRaw<{ id: bigint; instance_id: string; attempt_no: number }[]>`
      WITH picked AS (
        SELECT ri.id FROM rollout_instance ri
        WHERE ri.rollout_id = ${input.rolloutId}::uuid AND ri.state = 'pending' AND ri.id <> ${input.rolloutInstanceId}
          AND ri.wave_no <= ${row.current_wave}
          AND (ri.next_attempt_at IS NULL OR ri.next_attempt_at <= ${now})
          AND (${input.instanceTimeoutMs}::int IS NULL OR ri.started_at IS NULL
               OR ri.started_at + make_interval(secs => ${input.instanceTimeoutMs}::int / 1000.0) > ${now})
          AND (NOT ${input.skipInstalled}::boolean OR ri.attempt_count > 0 OR EXISTS (
            SELECT 1 FROM install_attempt s WHERE s.rollout_instance_id = ri.id AND s.kind = 'status_check'))
        ORDER BY ri.id DESC
        LIMIT ${input.maxInstances - 1}
        FOR UPDATE SKIP LOCKED)
      UPDATE rollout_instance ri
      SET state = 'in_progress', attempt_count = ri.attempt_count + 1, started_at = coalesce(ri.started_at, ${now}),
          next_attempt_at = NULL, updated_at = ${now}
      FROM picked WHERE ri.id = picked.id AND ri.state = 'pending'
      RETURNING ri.id, ri.instance_id, ri.attempt_count AS attempt_no`;
    const claimed = [
      { id: input.rolloutInstanceId, instance_id: row.instance_id, attempt_no: row.attempt_count + 1 },
      ...others,
    ];
    const inserted = await tx.$queryRaw<{ id: bigint; rollout_instance_id: bigint }[]>`
      INSERT INTO install_attempt (rollout_instance_id, rollout_id, attempt_no, started_at, worker_id, signature_nonce, signed_at,
        credentials_id, call_id)
      SELECT m.id, ${input.rolloutId}::uuid, m.attempt_no, ${now}, ${input.workerId}, ${input.signatureNonce}, ${now},
        ${input.credentialsId === null ? null : String(input.credentialsId)}::bigint, ${input.callId}::uuid
      FROM unnest(${claimed.map((c) => String(c.id))}::bigint[], ${claimed.map((c) => c.attempt_no)}::int[]) AS m(id, attempt_no)
      RETURNING id, rollout_instance_id`;
    const attemptOf = new Map(inserted.map((a) => [a.rollout_instance_id, a.id]));
    return {
      kind: 'claimed',
      callId: input.callId,
      signing: { nonce: input.signatureNonce, timestamp: now },
      abandonedAttemptNo,
      members: claimed.map((c) => ({
        rolloutInstanceId: c.id,
        instanceId: c.instance_id,
        attemptId: attemptOf.get(c.id)!,
        attemptNo: c.attempt_no,
      })),
    };
  });
}

/**
 * What an install-monitoring-agent job looks at before asking the limits for a call (a call's admission is one rate
 * token and one global slot, which a job whose instance another call took would waste): its instance's state, the
 * attempt it is on, its retry due time, and how many of the rollout's instances are in flight against its concurrency.
 * A hint only: the claim decides under its lock.
 */
export type InstallCallPeek = {
  state: InstanceState;
  nextAttemptAt: Date | null;
  /** When the current attempt's call (or its latest replay) began, if it is unfinished. */
  inFlightSince: Date | null;
  inProgress: number;
  concurrency: number;
};

export async function peekInstallCall(db: Database, rolloutInstanceId: bigint): Promise<InstallCallPeek | null> {
  const { rows } = await db.pool.query<{
    state: InstanceState;
    next_attempt_at: Date | null;
    in_flight_since: Date | null;
    in_progress: number;
    concurrency: number;
  }>({
    name: 'fleet_peek_install_call',
    text: `SELECT ri.state::text AS state, ri.next_attempt_at,
              CASE WHEN a.finished_at IS NULL THEN coalesce(a.replay_started_at, a.started_at) END AS in_flight_since,
              (SELECT count(*)::int FROM rollout_instance x WHERE x.rollout_id = ri.rollout_id AND x.state = 'in_progress') AS in_progress,
              r.concurrency
           FROM rollout_instance ri JOIN rollout r ON r.id = ri.rollout_id
           LEFT JOIN install_attempt a ON a.rollout_instance_id = ri.id AND a.attempt_no = ri.attempt_count AND a.kind = 'install'
           WHERE ri.id = $1`,
    values: [String(rolloutInstanceId)],
  });
  const row = rows[0];
  if (!row) return null;
  return {
    state: row.state,
    nextAttemptAt: row.next_attempt_at,
    inFlightSince: row.in_flight_since,
    inProgress: row.in_progress,
    concurrency: row.concurrency,
  };
}
