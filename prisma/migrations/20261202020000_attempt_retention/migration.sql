-- Attempt retention: a finished rollout's install_attempt rows are replaced, after ATTEMPT_RETENTION_DAYS, by a
-- summary on the rollout (counts per outcome and error code). The instances keep their final state, attempt count,
-- last error and last RequestId.
ALTER TABLE "rollout" ADD COLUMN "attempt_summary" JSONB;
ALTER TABLE "rollout" ADD COLUMN "attempts_summarised_at" TIMESTAMPTZ(3);

-- The retention pass looks for finished rollouts not yet summarised, oldest first.
CREATE INDEX "rollout_finished_not_summarised_idx" ON "rollout" ("finished_at") WHERE "attempts_summarised_at" IS NULL AND "finished_at" IS NOT NULL;
