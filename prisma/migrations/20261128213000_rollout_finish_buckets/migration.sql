-- CreateTable
CREATE TABLE "rollout_finish_second" (
    "rollout_id" UUID NOT NULL,
    "second" TIMESTAMPTZ(0) NOT NULL,
    "n" INTEGER NOT NULL,

    CONSTRAINT "rollout_finish_second_pkey" PRIMARY KEY ("rollout_id","second")
);

-- AddForeignKey
ALTER TABLE "rollout_finish_second" ADD CONSTRAINT "rollout_finish_second_rollout_id_fkey" FOREIGN KEY ("rollout_id") REFERENCES "rollout"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- Instances finished per rollout and second (finished_at truncated to the second), so "finished in the last minute"
-- (GET /v1/rollouts/:id) reads at most about 60 rows instead of walking up to 100,000 entries of the
-- (rollout_id, finished_at) index while a large rollout finishes 2,000 instances a second.
--
-- Kept by the function behind the existing statement-level triggers of rollout_state_count (migration
-- rollout_state_counts), replaced here with a second statement per branch, rather than by triggers of its own: the
-- worker updates 50 to 200 rows per statement many times a second, and one trigger call per statement with its
-- transition tables costs less than two. A statement's delta per (rollout, second) is its new rows finished in that
-- second minus its old rows finished in that second: a row whose finished_at did not change (a claim, a verification
-- update) cancels itself out, so no join of old_rows to new_rows is needed, and rows with finished_at null (pending,
-- in_progress) are not looked at. Zero deltas are skipped. Buckets are locked in (rollout_id, second) order, after the
-- counters (also in order), so concurrent statements cannot deadlock on them. Deleting a rollout cascades to its
-- instances and to its buckets in no set order, so a delete only moves buckets that are still there.
--
-- Seconds older than the progress window are of no further use: the reconciler deletes them each pass. An update of
-- an instance that finished in a second already deleted (none today: a final instance never moves) brings that
-- second back with a negative count, which nothing reads and the next pass deletes again.
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
  END IF\x3B
  RETURN NULL\x3B
END
';

-- Instances that finished before this migration. Migrations run before the apps start. Should a write still slip in
-- between the function above and this statement, its trigger has made the bucket already and the count of the rows
-- replaces it (the rows include that write).
INSERT INTO rollout_finish_second AS b (rollout_id, second, n)
SELECT rollout_id, date_trunc('second', finished_at), count(*)::int FROM "rollout_instance" WHERE finished_at IS NOT NULL
GROUP BY 1, 2
ON CONFLICT (rollout_id, second) DO UPDATE SET n = EXCLUDED.n;
