-- The failure report (GET /v1/rollouts/:id/report) without grouping every failed instance on each call: failures per
-- rollout and cause, and succeeded installs per rollout and verification outcome, kept in step with rollout_instance
-- by the statement-level triggers that keep rollout_state_count (migration rollout_state_counts) and
-- rollout_finish_second (migration rollout_finish_buckets), in the transaction of every write. A poller's report then
-- reads a few counter rows and, per cause, the first instances of an index made for it, whatever the rollout's size.

-- The cause of a failure, as failureCauseOf in packages/rollout-domain (failure-cause.ts) makes it: the error code,
-- ': ', and the error message with quoted values, UUIDs, instance ids, times and numbers replaced by placeholders,
-- whitespace collapsed, cut to 300 characters, and for an install whose agent never came up (a failed verification), the
-- agent status and the reason in words. JavaScript's \b (ASCII word characters) is spelt out with lookarounds, so a
-- database locale cannot change what a word character is. Where the two can still differ (a message with characters
-- outside the Basic Multilingual Plane counts them once here and twice in JavaScript when cut), the report's groups
-- and the retry of a cause use this function's key. packages/db/test/failure-causes.test.ts compares the two.
-- IMMUTABLE (its parts are) so that an index can be made on it. `failed` is the state test, as an enum's text is not
-- immutable. No semicolon inside the body: the schema engine that applies migrations here splits at every one.
CREATE FUNCTION fleet_failure_cause(failed boolean, error_code text, error_message text, agent_status text, manual_install_reason text)
RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $body$
  SELECT CASE WHEN failed THEN coalesce(error_code, 'none') || ': ' || coalesce(nullif(
    (SELECT CASE WHEN length(t) > 300 THEN left(t, 300) || '...' ELSE t END FROM (SELECT btrim(regexp_replace(
      regexp_replace(regexp_replace(regexp_replace(regexp_replace(regexp_replace(coalesce(error_message, ''),
        $re$"[^"]*"|'[^']*'|`[^`]*`$re$, '<value>', 'g'),
        '(?:(?<=[A-Za-z0-9_])(?![A-Za-z0-9_])|(?<![A-Za-z0-9_])(?=[A-Za-z0-9_]))[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}(?:(?<=[A-Za-z0-9_])(?![A-Za-z0-9_])|(?<![A-Za-z0-9_])(?=[A-Za-z0-9_]))', '<uuid>', 'gi'),
        '(?:(?<=[A-Za-z0-9_])(?![A-Za-z0-9_])|(?<![A-Za-z0-9_])(?=[A-Za-z0-9_]))i-[a-z0-9]+(?:(?<=[A-Za-z0-9_])(?![A-Za-z0-9_])|(?<![A-Za-z0-9_])(?=[A-Za-z0-9_]))', '<instance>', 'g'),
        '(?:(?<=[A-Za-z0-9_])(?![A-Za-z0-9_])|(?<![A-Za-z0-9_])(?=[A-Za-z0-9_]))[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z?(?:(?<=[A-Za-z0-9_])(?![A-Za-z0-9_])|(?<![A-Za-z0-9_])(?=[A-Za-z0-9_]))', '<time>', 'g'),
        '(?:(?<=[A-Za-z0-9_])(?![A-Za-z0-9_])|(?<![A-Za-z0-9_])(?=[A-Za-z0-9_]))[0-9]+(\.[0-9]+)?(?:(?<=[A-Za-z0-9_])(?![A-Za-z0-9_])|(?<![A-Za-z0-9_])(?=[A-Za-z0-9_]))', '<n>', 'g'),
      '[ \t\n\v\f\r\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]+', ' ', 'g'), ' ') AS t) AS normalised),
    ''), '(no message)')
  ELSE 'agent:' || coalesce(agent_status, 'unknown') || ': ' || CASE manual_install_reason
    WHEN 'install_failed_on_host' THEN 'NodeInstall succeeded but the agent failed to install on the host'
    WHEN 'agent_not_running' THEN 'NodeInstall succeeded but the agent did not report running within the verification window (last status ' || coalesce(agent_status, 'unknown') || ')'
    WHEN 'instance_not_found' THEN 'NodeInstall succeeded but NodeStatus does not know the instance'
    ELSE 'NodeInstall succeeded but verification failed (' || coalesce(manual_install_reason, 'unknown reason') || ')'
  END END
$body$;

-- CreateTable
CREATE TABLE "rollout_failure_count" (
    "rollout_id" UUID NOT NULL,
    "cause" TEXT NOT NULL,
    "manual_install_reason" TEXT NOT NULL,
    "last_outcome" TEXT NOT NULL,
    "n" INTEGER NOT NULL,
    "kind" TEXT NOT NULL,
    "sample_message" TEXT,

    CONSTRAINT "rollout_failure_count_pkey" PRIMARY KEY ("rollout_id","cause","manual_install_reason","last_outcome")
);

-- CreateTable
CREATE TABLE "rollout_verification_count" (
    "rollout_id" UUID NOT NULL,
    "verification" TEXT NOT NULL,
    "n" INTEGER NOT NULL,

    CONSTRAINT "rollout_verification_count_pkey" PRIMARY KEY ("rollout_id","verification")
);

-- AddForeignKey
ALTER TABLE "rollout_failure_count" ADD CONSTRAINT "rollout_failure_count_rollout_id_fkey" FOREIGN KEY ("rollout_id") REFERENCES "rollout"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "rollout_verification_count" ADD CONSTRAINT "rollout_verification_count_rollout_id_fkey" FOREIGN KEY ("rollout_id") REFERENCES "rollout"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- The first instances of each cause, for the report's per-group listing, without reading the others: only failures
-- are in it (a few percent of the rows), and an instance enters it once, when it fails.
CREATE INDEX "rollout_instance_failure_cause_idx" ON "rollout_instance" (rollout_id,
  fleet_failure_cause(state = 'failed', last_error_code, last_error_message, agent_status, manual_install_reason), id)
  WHERE state = 'failed' OR (state = 'succeeded' AND verification = 'failed');

-- The counters' function with two more statements per branch. What a statement moves is, as for the state counts,
-- its new rows minus its old rows, grouped: a failed row a statement did not change (a flag, an agent status of an
-- install whose verification is still pending) cancels itself out, and rows that are no failure are not looked at.
-- A failure counts under its cause, manual-install reason and last outcome (the report's recommended action is that
-- of the most frequent reason, else of the most frequent outcome), and '' stands for null in the key. The first message
-- of a cause is kept as its sample. A verification counts under its value for succeeded installs ('' for none yet).
-- Locks are taken table by table, each in key order, in the same order by every statement, so concurrent statements
-- cannot deadlock on them. A delete only moves rows that are still there (a rollout's delete cascades to them).
--
-- The body is an E'' string with every semicolon written as \x3B: the schema engine that applies migrations here
-- (the Wasm engine behind the driver adapter) splits a migration at each semicolon, also inside quoted or
-- dollar-quoted function bodies.
CREATE OR REPLACE FUNCTION rollout_state_count_apply() RETURNS trigger LANGUAGE plpgsql AS E'
BEGIN
  IF TG_OP = ''INSERT'' THEN
    INSERT INTO rollout_state_count AS c (rollout_id, state, n)
    SELECT rollout_id, state, count(*)::int FROM new_rows GROUP BY rollout_id, state ORDER BY rollout_id, state
    ON CONFLICT (rollout_id, state) DO UPDATE SET n = c.n + EXCLUDED.n\x3B
    INSERT INTO rollout_finish_second AS b (rollout_id, second, n)
    SELECT rollout_id, date_trunc(''second'', finished_at), count(*)::int FROM new_rows WHERE finished_at IS NOT NULL
    GROUP BY 1, 2 ORDER BY 1, 2
    ON CONFLICT (rollout_id, second) DO UPDATE SET n = b.n + EXCLUDED.n\x3B
    INSERT INTO rollout_failure_count AS f (rollout_id, cause, manual_install_reason, last_outcome, n, kind, sample_message)
    SELECT rollout_id, cause, reason, outcome, sum(delta)::int, min(kind), min(message) FROM (
    SELECT rollout_id, fleet_failure_cause(state = ''failed'', last_error_code, last_error_message, agent_status,
             manual_install_reason) AS cause, coalesce(manual_install_reason, '''') AS reason,
           coalesce(last_outcome, '''') AS outcome, 1 AS delta,
           CASE WHEN state = ''failed'' THEN ''install_failed'' ELSE ''verification_failed'' END AS kind,
           CASE WHEN state = ''failed'' THEN last_error_message END AS message
    FROM new_rows WHERE state = ''failed'' OR (state = ''succeeded'' AND verification = ''failed'')
    ) AS moved
    GROUP BY rollout_id, cause, reason, outcome HAVING sum(delta) <> 0 ORDER BY rollout_id, cause, reason, outcome
    ON CONFLICT (rollout_id, cause, manual_install_reason, last_outcome) DO UPDATE
      SET n = f.n + EXCLUDED.n, sample_message = coalesce(f.sample_message, EXCLUDED.sample_message)\x3B
    INSERT INTO rollout_verification_count AS v (rollout_id, verification, n)
    SELECT rollout_id, verification, sum(delta)::int FROM (
      SELECT rollout_id, coalesce(verification, '''') AS verification, 1 AS delta FROM new_rows WHERE state = ''succeeded''
    ) AS moved
    GROUP BY rollout_id, verification HAVING sum(delta) <> 0 ORDER BY rollout_id, verification
    ON CONFLICT (rollout_id, verification) DO UPDATE SET n = v.n + EXCLUDED.n\x3B
  ELSIF TG_OP = ''UPDATE'' THEN
    INSERT INTO rollout_state_count AS c (rollout_id, state, n)
    SELECT rollout_id, state, sum(delta)::int FROM (
      SELECT rollout_id, state, 1 AS delta FROM new_rows
      UNION ALL
      SELECT rollout_id, state, -1 AS delta FROM old_rows
    ) AS moved
    GROUP BY rollout_id, state HAVING sum(delta) <> 0 ORDER BY rollout_id, state
    ON CONFLICT (rollout_id, state) DO UPDATE SET n = c.n + EXCLUDED.n\x3B
    INSERT INTO rollout_finish_second AS b (rollout_id, second, n)
    SELECT rollout_id, second, sum(delta)::int FROM (
      SELECT rollout_id, date_trunc(''second'', finished_at) AS second, 1 AS delta FROM new_rows WHERE finished_at IS NOT NULL
      UNION ALL
      SELECT rollout_id, date_trunc(''second'', finished_at) AS second, -1 AS delta FROM old_rows WHERE finished_at IS NOT NULL
    ) AS moved
    GROUP BY rollout_id, second HAVING sum(delta) <> 0 ORDER BY rollout_id, second
    ON CONFLICT (rollout_id, second) DO UPDATE SET n = b.n + EXCLUDED.n\x3B
    INSERT INTO rollout_failure_count AS f (rollout_id, cause, manual_install_reason, last_outcome, n, kind, sample_message)
    SELECT rollout_id, cause, reason, outcome, sum(delta)::int, min(kind), min(message) FROM (
    SELECT rollout_id, fleet_failure_cause(state = ''failed'', last_error_code, last_error_message, agent_status,
             manual_install_reason) AS cause, coalesce(manual_install_reason, '''') AS reason,
           coalesce(last_outcome, '''') AS outcome, 1 AS delta,
           CASE WHEN state = ''failed'' THEN ''install_failed'' ELSE ''verification_failed'' END AS kind,
           CASE WHEN state = ''failed'' THEN last_error_message END AS message
    FROM new_rows WHERE state = ''failed'' OR (state = ''succeeded'' AND verification = ''failed'')
    UNION ALL
    SELECT rollout_id, fleet_failure_cause(state = ''failed'', last_error_code, last_error_message, agent_status,
             manual_install_reason) AS cause, coalesce(manual_install_reason, '''') AS reason,
           coalesce(last_outcome, '''') AS outcome, -1 AS delta,
           CASE WHEN state = ''failed'' THEN ''install_failed'' ELSE ''verification_failed'' END AS kind,
           NULL::text AS message
    FROM old_rows WHERE state = ''failed'' OR (state = ''succeeded'' AND verification = ''failed'')
    ) AS moved
    GROUP BY rollout_id, cause, reason, outcome HAVING sum(delta) <> 0 ORDER BY rollout_id, cause, reason, outcome
    ON CONFLICT (rollout_id, cause, manual_install_reason, last_outcome) DO UPDATE
      SET n = f.n + EXCLUDED.n, sample_message = coalesce(f.sample_message, EXCLUDED.sample_message)\x3B
    INSERT INTO rollout_verification_count AS v (rollout_id, verification, n)
    SELECT rollout_id, verification, sum(delta)::int FROM (
      SELECT rollout_id, coalesce(verification, '''') AS verification, 1 AS delta FROM new_rows WHERE state = ''succeeded''
      UNION ALL
      SELECT rollout_id, coalesce(verification, '''') AS verification, -1 AS delta FROM old_rows WHERE state = ''succeeded''
    ) AS moved
    GROUP BY rollout_id, verification HAVING sum(delta) <> 0 ORDER BY rollout_id, verification
    ON CONFLICT (rollout_id, verification) DO UPDATE SET n = v.n + EXCLUDED.n\x3B
  ELSE
    UPDATE rollout_state_count AS c SET n = c.n - gone.n
    FROM (SELECT rollout_id, state, count(*)::int AS n FROM old_rows GROUP BY rollout_id, state) AS gone
    WHERE c.rollout_id = gone.rollout_id AND c.state = gone.state\x3B
    UPDATE rollout_finish_second AS b SET n = b.n - gone.n
    FROM (
      SELECT rollout_id, date_trunc(''second'', finished_at) AS second, count(*)::int AS n FROM old_rows
      WHERE finished_at IS NOT NULL GROUP BY 1, 2
    ) AS gone
    WHERE b.rollout_id = gone.rollout_id AND b.second = gone.second\x3B
    UPDATE rollout_failure_count AS f SET n = f.n - gone.n
    FROM (
      SELECT rollout_id, cause, reason, outcome, sum(-delta)::int AS n FROM (
    SELECT rollout_id, fleet_failure_cause(state = ''failed'', last_error_code, last_error_message, agent_status,
             manual_install_reason) AS cause, coalesce(manual_install_reason, '''') AS reason,
           coalesce(last_outcome, '''') AS outcome, -1 AS delta,
           CASE WHEN state = ''failed'' THEN ''install_failed'' ELSE ''verification_failed'' END AS kind,
           NULL::text AS message
    FROM old_rows WHERE state = ''failed'' OR (state = ''succeeded'' AND verification = ''failed'')
      ) AS moved GROUP BY 1, 2, 3, 4
    ) AS gone
    WHERE f.rollout_id = gone.rollout_id AND f.cause = gone.cause AND f.manual_install_reason = gone.reason
      AND f.last_outcome = gone.outcome\x3B
    UPDATE rollout_verification_count AS v SET n = v.n - gone.n
    FROM (
      SELECT rollout_id, coalesce(verification, '''') AS verification, count(*)::int AS n FROM old_rows
      WHERE state = ''succeeded'' GROUP BY 1, 2
    ) AS gone
    WHERE v.rollout_id = gone.rollout_id AND v.verification = gone.verification\x3B
  END IF\x3B
  RETURN NULL\x3B
END
';

-- Rollouts that exist already. Migrations run before the apps start. Should a write still slip in between the function
-- above and these statements, its trigger has made the row already and the count of the rows replaces it.
INSERT INTO rollout_failure_count AS f (rollout_id, cause, manual_install_reason, last_outcome, n, kind, sample_message)
SELECT rollout_id, fleet_failure_cause(state = 'failed', last_error_code, last_error_message, agent_status, manual_install_reason),
       coalesce(manual_install_reason, ''), coalesce(last_outcome, ''), count(*)::int,
       min(CASE WHEN state = 'failed' THEN 'install_failed' ELSE 'verification_failed' END),
       min(CASE WHEN state = 'failed' THEN last_error_message END)
FROM "rollout_instance" WHERE state = 'failed' OR (state = 'succeeded' AND verification = 'failed')
GROUP BY 1, 2, 3, 4
ON CONFLICT (rollout_id, cause, manual_install_reason, last_outcome) DO UPDATE SET n = EXCLUDED.n;

INSERT INTO rollout_verification_count AS v (rollout_id, verification, n)
SELECT rollout_id, coalesce(verification, ''), count(*)::int FROM "rollout_instance" WHERE state = 'succeeded'
GROUP BY 1, 2
ON CONFLICT (rollout_id, verification) DO UPDATE SET n = EXCLUDED.n;
