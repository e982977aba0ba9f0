-- Fewer indexes for the install path to keep up: every claim and every answer updates an instance row and an
-- attempt row, and an update that changes an indexed column adds an entry to every index of the table.

-- Progress reads rollout_finish_second since the migration rollout_finish_buckets: nothing reads this index any more.
DROP INDEX "rollout_instance_rollout_id_finished_at_idx";

-- Attempts are read by instance (the unique index on rollout_instance_id, attempt_no), never by rollout and outcome.
-- Without this index an answer written on its attempt row changes no indexed column, so it can be a HOT update.
DROP INDEX "install_attempt_rollout_id_outcome_idx";

-- The verification sweep only looks for pending verifications: the index holds those rows alone, so the claims and
-- answers of the install path (verification still null) add nothing to it. Prisma's schema cannot express the
-- predicate, so schema.prisma shows the plain index.
DROP INDEX "rollout_instance_verification_verify_deadline_at_idx";
CREATE INDEX "rollout_instance_verification_verify_deadline_at_idx" ON "rollout_instance"("verification", "verify_deadline_at") WHERE "verification" = 'pending';

-- Room on each page for the answer to be written next to the attempt row it completes (a HOT update: no new index
-- entries at all).
ALTER TABLE "install_attempt" SET (fillfactor = 70);
