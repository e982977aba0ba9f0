-- A page of a rollout's instances in id order (GET /v1/rollouts/:id/instances, which pollers walk), planned so that it
-- walks the (rollout_id, id) or (rollout_id, state, id) index in order and stops after the page, whatever the
-- statistics say. As a plain statement the planner estimated a rollout at a few dozen rows whenever its statistics did
-- not know it (a new rollout, a table not analysed since it grew, a large rollout among many small ones), and then
-- chose to fetch every row of the rollout through a bitmap scan and sort them for each page: at 20,000 instances
-- 9 to 15 ms of Postgres CPU per page of 100 instead of 0.2 ms. Bitmap scans and sorts are off inside these functions
-- only (a function's SET clause), and only the index walk is left. No semicolon inside the bodies: the schema engine
-- that applies migrations here splits at every one.
CREATE FUNCTION fleet_instance_page(p_rollout_id uuid, p_after bigint, p_limit integer)
RETURNS SETOF rollout_instance LANGUAGE sql STABLE
SET enable_bitmapscan = off SET enable_sort = off AS $body$
  SELECT * FROM rollout_instance WHERE rollout_id = p_rollout_id AND id > p_after ORDER BY id LIMIT p_limit
$body$;

CREATE FUNCTION fleet_instance_page_in_state(p_rollout_id uuid, p_state "InstanceState", p_after bigint, p_limit integer)
RETURNS SETOF rollout_instance LANGUAGE sql STABLE
SET enable_bitmapscan = off SET enable_sort = off AS $body$
  SELECT * FROM rollout_instance WHERE rollout_id = p_rollout_id AND state = p_state AND id > p_after
  ORDER BY id LIMIT p_limit
$body$;
