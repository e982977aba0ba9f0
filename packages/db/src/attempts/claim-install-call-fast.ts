import type { Database } from '../client.ts';
import type { CallMember, InstallCallClaim, InstallCallInput } from './types.ts';

/**
 * The common case of claimInstallCall in one statement, on pg directly: the leader is `pending`, due, within its
 * instance timeout, and its rollout running within its window. For exactly those facts the state machine's decision
 * is `pending -> in_progress` (decideInstance, 'claim'), so the statement's WHERE clause is that decision's guard,
 * as in the NodeInstall one-statement claim (claimCtes). The rollout's claims go one at a time (an advisory lock of
 * the rollout, taken by its own statement so that the claim's statement, whose snapshot begins after it, sees every
 * claim committed before): the lock is held for two round trips (the statement and the commit), which bounds how
 * many calls a rollout can start per second, so nothing else is done under it. Anything else answers null and takes
 * the general path (a transaction that asks the state machine).
 */
const FAST_CLAIM = {
  name: 'fleet_claim_install_call',
  text: `
  WITH leader AS (
    SELECT ri.id, r.concurrency, r.current_wave
    FROM rollout_instance ri JOIN rollout r ON r.id = ri.rollout_id
    WHERE ri.id = $1 AND ri.state::text = 'pending'
      AND (ri.next_attempt_at IS NULL OR ri.next_attempt_at <= $4)
      AND r.status = 'running' AND (r.calls_until IS NULL OR r.calls_until > $5)
      AND ($9::int IS NULL OR ri.started_at IS NULL OR ri.started_at + make_interval(secs => $9::int / 1000.0) > $4)
    FOR UPDATE OF ri),
  room AS (
    SELECT least($10::int, l.concurrency - (
      SELECT count(*)::int FROM rollout_instance x WHERE x.rollout_id = $2::uuid AND x.state = 'in_progress')) AS k,
      l.current_wave
    FROM leader l),
  picked AS (
    SELECT ri.id FROM rollout_instance ri
    WHERE ri.rollout_id = $2::uuid AND ri.state = 'pending' AND ri.id <> $1
      AND ri.wave_no <= (SELECT current_wave FROM room)
      AND (ri.next_attempt_at IS NULL OR ri.next_attempt_at <= $4)
      AND ($9::int IS NULL OR ri.started_at IS NULL OR ri.started_at + make_interval(secs => $9::int / 1000.0) > $4)
      AND (NOT $11::boolean OR ri.attempt_count > 0 OR EXISTS (
        SELECT 1 FROM install_attempt s WHERE s.rollout_instance_id = ri.id AND s.kind = 'status_check'))
    ORDER BY ri.id DESC
    LIMIT greatest(coalesce((SELECT k FROM room), 0) - 1, 0)
    FOR UPDATE OF ri SKIP LOCKED),
  members AS (
    SELECT id FROM leader WHERE (SELECT k FROM room) >= 1
    UNION ALL SELECT id FROM picked),
  moved AS (
    UPDATE rollout_instance ri
    SET state = 'in_progress', attempt_count = ri.attempt_count + 1, started_at = coalesce(ri.started_at, $4),
        next_attempt_at = NULL, updated_at = $4
    FROM members m WHERE ri.id = m.id
    RETURNING ri.id, ri.instance_id, ri.attempt_count),
  inserted AS (
    INSERT INTO install_attempt (rollout_instance_id, rollout_id, attempt_no, started_at, worker_id, signature_nonce, signed_at,
      credentials_id, call_id)
    SELECT id, $2::uuid, attempt_count, $4, $3, $6, $4, $7::bigint, $8::uuid FROM moved
    RETURNING id, rollout_instance_id, attempt_no)
  SELECT NULL::text AS attempt_id, NULL::text AS rollout_instance_id, NULL::text AS instance_id, NULL::int AS attempt_no,
         (SELECT count(*)::int FROM leader) AS leaders, (SELECT k FROM room) AS room
  UNION ALL
  SELECT i.id::text, i.rollout_instance_id::text, mv.instance_id, i.attempt_no, NULL, NULL
  FROM inserted i JOIN moved mv ON mv.id = i.rollout_instance_id`,
} as const;

type FastRow = {
  attempt_id: string | null;
  rollout_instance_id: string | null;
  instance_id: string | null;
  attempt_no: number | null;
  leaders: number | null;
  room: number | null;
};

/** claimInstallCall's common case: the claim, `full`, or null (take the general path). */
export async function claimInstallCallFast(db: Database, input: InstallCallInput): Promise<InstallCallClaim | null> {
  const client = await db.pool.connect();
  let done = false;
  try {
    await client.query('BEGIN');
    await client.query({
      name: 'fleet_install_call_lock',
      text: `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`,
      values: [`fleet.install_call:${input.rolloutId}`],
    });
    const { rows } = await client.query<FastRow>({
      name: FAST_CLAIM.name,
      text: FAST_CLAIM.text,
      values: [
        String(input.rolloutInstanceId),
        input.rolloutId,
        input.workerId,
        input.now,
        input.windowNow,
        input.signatureNonce,
        input.credentialsId === null ? null : String(input.credentialsId),
        input.callId,
        input.instanceTimeoutMs,
        input.maxInstances,
        input.skipInstalled,
      ],
    });
    const meta = rows.find((r) => r.attempt_id === null)!;
    if (meta.leaders === 0) {
      await client.query('ROLLBACK');
      done = true;
      return null;
    }
    await client.query('COMMIT');
    done = true;
    if ((meta.room ?? 0) < 1) return { kind: 'full' };
    const members: CallMember[] = rows
      .filter((r) => r.attempt_id !== null)
      .map((r) => ({
        rolloutInstanceId: BigInt(r.rollout_instance_id!),
        instanceId: r.instance_id!,
        attemptId: BigInt(r.attempt_id!),
        attemptNo: r.attempt_no!,
      }))
      // The leader first (its job's own instance).
      .sort(
        (a, b) =>
          Number(b.rolloutInstanceId === input.rolloutInstanceId) -
          Number(a.rolloutInstanceId === input.rolloutInstanceId),
      );
    return {
      kind: 'claimed',
      callId: input.callId,
      signing: { nonce: input.signatureNonce, timestamp: input.now },
      members,
      abandonedAttemptNo: null,
    };
  } finally {
    // A connection whose ROLLBACK failed is broken: dropped from the pool rather than handed out again.
    const usable =
      done ||
      (await client.query('ROLLBACK').then(
        () => true,
        () => false,
      ));
    client.release(usable ? undefined : true);
  }
}
