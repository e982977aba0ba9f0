-- Which rollouts hold an instance (GET /v1/rollouts?instanceId=, the console's search by instance id): without it,
-- a search reads every rollout_instance row. Named after the newest migration of main when it landed (it first
-- landed as 20261202050000_..., ahead of migrations that were already in main): IF NOT EXISTS for a database that
-- applied it under that name.
CREATE INDEX IF NOT EXISTS "rollout_instance_instance_id_idx" ON "rollout_instance"("instance_id");
