-- Which rollouts hold an instance (GET /v1/rollouts?instanceId=, the console's search by instance id): without it,
-- a search reads every rollout_instance row.
CREATE INDEX "rollout_instance_instance_id_idx" ON "rollout_instance"("instance_id");
