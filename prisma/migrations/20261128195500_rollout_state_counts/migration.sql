-- CreateTable
CREATE TABLE "rollout_state_count" (
    "rollout_id" UUID NOT NULL,
    "state" "InstanceState" NOT NULL,
    "n" INTEGER NOT NULL,

    CONSTRAINT "rollout_state_count_pkey" PRIMARY KEY ("rollout_id","state")
);

-- AddForeignKey
ALTER TABLE "rollout_state_count" ADD CONSTRAINT "rollout_state_count_rollout_id_fkey" FOREIGN KEY ("rollout_id") REFERENCES "rollout"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- Counts per rollout and instance state, kept in step with rollout_instance by statement-level triggers. Whatever
-- writes instances (the worker's claims and answers, cancel, retries, the reconciler, a person with psql) moves the
-- counts in the same transaction, so they always equal the rows and GET /v1/rollouts/:id reads five rows instead of
-- counting up to 100,000. One upsert per (rollout, state) that a statement changed, not one per row: a batch of
-- answers or a 100,000-row insert touches each counter once. Counters are locked in (rollout_id, state) order, so
-- concurrent statements cannot deadlock on them. Deleting a rollout cascades to its instances and to its counters
-- in no set order, so a delete only moves counters that are still there.
--
-- The body is an E'' string with every semicolon written as \x3B: the schema engine that applies migrations here
-- (the Wasm engine behind the driver adapter) splits a migration at each semicolon, also inside quoted or
-- dollar-quoted function bodies.
CREATE FUNCTION rollout_state_count_apply() RETURNS trigger LANGUAGE plpgsql AS E'
BEGIN
  IF TG_OP = ''INSERT'' THEN
    INSERT INTO rollout_state_count AS c (rollout_id, state, n)
    SELECT rollout_id, state, count(*)::int FROM new_rows GROUP BY rollout_id, state ORDER BY rollout_id, state
    ON CONFLICT (rollout_id, state) DO UPDATE SET n = c.n + EXCLUDED.n\x3B
  ELSIF TG_OP = ''UPDATE'' THEN
    INSERT INTO rollout_state_count AS c (rollout_id, state, n)
    SELECT rollout_id, state, sum(delta)::int FROM (
      SELECT rollout_id, state, 1 AS delta FROM new_rows
      UNION ALL
      SELECT rollout_id, state, -1 AS delta FROM old_rows
    ) AS moved
    GROUP BY rollout_id, state HAVING sum(delta) <> 0 ORDER BY rollout_id, state
    ON CONFLICT (rollout_id, state) DO UPDATE SET n = c.n + EXCLUDED.n\x3B
  ELSE
    UPDATE rollout_state_count AS c SET n = c.n - gone.n
    FROM (SELECT rollout_id, state, count(*)::int AS n FROM old_rows GROUP BY rollout_id, state) AS gone
    WHERE c.rollout_id = gone.rollout_id AND c.state = gone.state\x3B
  END IF\x3B
  RETURN NULL\x3B
END
';

CREATE TRIGGER rollout_state_count_insert AFTER INSERT ON "rollout_instance"
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION rollout_state_count_apply();

CREATE TRIGGER rollout_state_count_update AFTER UPDATE ON "rollout_instance"
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION rollout_state_count_apply();

CREATE TRIGGER rollout_state_count_delete AFTER DELETE ON "rollout_instance"
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION rollout_state_count_apply();

-- Rollouts that exist already.
INSERT INTO rollout_state_count (rollout_id, state, n)
SELECT rollout_id, state, count(*)::int FROM "rollout_instance" GROUP BY rollout_id, state;
