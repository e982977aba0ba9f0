/**
 * The statements of the install path that run for every job go to pg directly, as named (prepared) statements: no
 * Prisma per-query cost in the worker (see Database.pool) and no parse and plan per batch in Postgres (on connections of
 * their own, whose settings leave the planner one plan shape: see INSTALL_PATH_SESSION in client.ts). That shape is
 * rows of a batch's input hashed, and the rows they name fetched by primary key (`ri.id = ANY(...)`), whatever the
 * statistics say; the rollout's status is a sub-select on its primary key. The state guards compare `state::text`,
 * which no index can serve: written `state = 'pending'`, a plan made while the table was small walked the
 * (rollout_id, wave_no, state) index over every pending instance for each batch.
 *
 * This module holds their text; one module per statement runs it (claim-pending-many, finish-in-progress-many,
 * write-attempts-many), and warm-install-path prepares all three.
 */

/** Parameters of claimCtes. */
const CLAIM_PARAMS = 7;
/** Parameters of finishCtes. */
const FINISH_PARAMS = 18;

/** The claim of a batch, parameters $at..$at+6, as CTEs ending in `claim_inserted(id, rollout_instance_id, attempt_no)`. */
const claimCtes = (at: number) => `
  claim_input AS (
    SELECT * FROM unnest($${at}::bigint[], $${at + 1}::text[], $${at + 2}::int[], $${at + 3}::timestamptz[], $${at + 4}::text[],
                         $${at + 5}::timestamptz[], $${at + 6}::bigint[])
      AS t(id, worker_id, timeout_ms, now, nonce, window_now, credentials_id)),
  claimed AS (
    UPDATE rollout_instance ri
    SET state = 'in_progress', attempt_count = ri.attempt_count + 1, started_at = coalesce(ri.started_at, i.now),
        next_attempt_at = NULL, updated_at = i.now
    FROM claim_input i
    WHERE ri.id = ANY($${at}::bigint[]) AND ri.id = i.id AND ri.state::text = 'pending'
      AND (SELECT r.status = 'running' AND (r.calls_until IS NULL OR r.calls_until > i.window_now)
           FROM rollout r WHERE r.id = ri.rollout_id)
      AND (i.timeout_ms IS NULL OR ri.started_at IS NULL OR ri.started_at + make_interval(secs => i.timeout_ms / 1000.0) > i.now)
    RETURNING ri.id, ri.rollout_id, ri.attempt_count, i.worker_id, i.now, i.nonce, i.credentials_id),
  claim_inserted AS (
    INSERT INTO install_attempt (rollout_instance_id, rollout_id, attempt_no, started_at, worker_id, signature_nonce, signed_at,
      credentials_id)
    SELECT id, rollout_id, attempt_count, now, worker_id, nonce, CASE WHEN nonce IS NULL THEN NULL ELSE now END, credentials_id
    FROM claimed
    RETURNING id, rollout_instance_id, attempt_no)`;

const CLAIM_PENDING_MANY = `WITH ${claimCtes(1)}
  SELECT id::text, rollout_instance_id::text, attempt_no FROM claim_inserted`;

/**
 * The answers of a batch, parameters $at..$at+17, as CTEs: each recorded on its attempt row (`finish_recorded`),
 * each instance moved with its guard (`finish_moved`). Plan shape and pg: see the top of this module.
 */
const finishCtes = (at: number) => {
  const p = (n: number) => `$${at + n - 1}`;
  return `
  finish_input AS (
    SELECT * FROM unnest(
      ${p(1)}::bigint[], ${p(2)}::bigint[], ${p(3)}::int[], ${p(4)}::text[], ${p(5)}::timestamptz[], ${p(6)}::int[], ${p(7)}::int[],
      ${p(8)}::boolean[], ${p(9)}::text[], ${p(10)}::text[], ${p(11)}::text[], ${p(12)}::text[], ${p(13)}::text[], ${p(14)}::timestamptz[],
      ${p(15)}::text[], ${p(16)}::int[], ${p(17)}::timestamptz[], ${p(18)}::timestamptz[]
    ) AS t(instance_id, attempt_id, attempt_no, to_state, finished_at, duration_ms, http_status, success, error_code, error_message,
           request_id, outcome, outcome_kind, next_attempt_at, manual_reason, timeout_ms, decided_at, sent_at)),
  finish_recorded AS (
    UPDATE install_attempt a SET
      finished_at = i.finished_at, duration_ms = i.duration_ms, http_status = i.http_status, success = i.success,
      error_code = i.error_code, error_message = i.error_message, request_id = i.request_id,
      outcome = i.outcome::"AttemptOutcome", outcome_kind = i.outcome_kind, started_at = coalesce(i.sent_at, a.started_at)
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
 * text), and takes `params` arrays. packages/db/test/install-path-plans.test.ts explains them with these names.
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
