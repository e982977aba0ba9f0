-- One manual-install flag per host (account UserId + instance id) instead of one per rollout instance: a rollout and
-- two retries failing on the same 130 hosts had raised 346 flags, and resolving one left the others open. A flag now
-- stays with its host across rollouts until it is closed (the rules: packages/rollout-domain manual-install-flag.ts),
-- and records each rollout instance it was raised for in manual_install_flag_occurrence.
--
-- One transaction (Prisma runs a script's statements one by one, without one of its own): the merge and the unique
-- index land together or not at all, and the lock keeps a reconciler of the previous release from raising a
-- duplicate between the merge and the index that forbids them.
BEGIN;
LOCK TABLE "manual_install_flag" IN SHARE ROW EXCLUSIVE MODE;

-- CreateTable
CREATE TABLE "manual_install_flag_occurrence" (
    "rollout_instance_id" BIGINT NOT NULL,
    "flag_id" BIGINT NOT NULL,
    "rollout_id" UUID NOT NULL,
    "at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "manual_install_flag_occurrence_pkey" PRIMARY KEY ("rollout_instance_id")
);

-- Every flag so far was raised for exactly one rollout instance.
INSERT INTO "manual_install_flag_occurrence" ("rollout_instance_id", "flag_id", "rollout_id", "at")
SELECT "rollout_instance_id", "id", "rollout_id", "created_at" FROM "manual_install_flag";

-- Merge the flags of a host that are not closed (closed flags are history and stay as they are). Of each such group:
-- - the oldest flag is kept (its id is the one first shown to operators, and its history starts earliest),
-- - it takes the status, note and who acknowledged / resolved it from the flag furthest along
--   (open, then acknowledged, then resolved, and of two alike the one moved last): an operator's latest word on the
--   host wins, which is what resolving one of the duplicates was meant to do,
-- - it takes the reason, detail, RequestId and rollout instance of the newest flag (the latest rollout's failure),
-- - the others' history entries and occurrences move onto it, they are deleted, and a `merged` entry names them.
-- (No semicolons in these comments: Prisma splits the script into statements at every one.)
CREATE TEMPORARY TABLE "flag_merge" AS
WITH live AS (
    SELECT f.*, CASE f."status" WHEN 'open' THEN 1 WHEN 'acknowledged' THEN 2 ELSE 3 END AS "progress"
    FROM "manual_install_flag" f
    WHERE f."status" <> 'closed'
)
SELECT l."id",
       min(l."id") OVER host AS "keeper_id",
       first_value(l."id") OVER (PARTITION BY l."user_id", l."instance_id"
                                 ORDER BY l."progress" DESC, l."updated_at" DESC, l."id" DESC) AS "furthest_id",
       first_value(l."id") OVER (PARTITION BY l."user_id", l."instance_id"
                                 ORDER BY l."created_at" DESC, l."id" DESC) AS "newest_id",
       count(*) OVER host AS "group_size"
FROM live l
WINDOW host AS (PARTITION BY l."user_id", l."instance_id");
DELETE FROM "flag_merge" WHERE "group_size" = 1;

-- What each kept flag becomes, read before the flags it is read from are deleted.
CREATE TEMPORARY TABLE "flag_merge_keeper" AS
SELECT k."keeper_id",
       furthest."status", furthest."note", furthest."acknowledged_at", furthest."acknowledged_by",
       furthest."resolved_at", furthest."resolved_by",
       newest."rollout_instance_id", newest."rollout_id", newest."reason", newest."detail", newest."last_request_id",
       k."merged_ids", k."updated_at"
FROM (
    SELECT m."keeper_id", min(m."furthest_id") AS "furthest_id", min(m."newest_id") AS "newest_id",
           array_agg(m."id" ORDER BY m."id") FILTER (WHERE m."id" <> m."keeper_id") AS "merged_ids",
           max(f."updated_at") AS "updated_at"
    FROM "flag_merge" m JOIN "manual_install_flag" f ON f."id" = m."id"
    GROUP BY m."keeper_id"
) k
JOIN "manual_install_flag" furthest ON furthest."id" = k."furthest_id"
JOIN "manual_install_flag" newest ON newest."id" = k."newest_id";

UPDATE "manual_install_flag_event" e SET "flag_id" = m."keeper_id"
FROM "flag_merge" m WHERE e."flag_id" = m."id" AND m."id" <> m."keeper_id";

UPDATE "manual_install_flag_occurrence" o SET "flag_id" = m."keeper_id"
FROM "flag_merge" m WHERE o."flag_id" = m."id" AND m."id" <> m."keeper_id";

DELETE FROM "manual_install_flag" f USING "flag_merge" m WHERE f."id" = m."id" AND m."id" <> m."keeper_id";

UPDATE "manual_install_flag" f SET
    "status" = k."status", "note" = k."note",
    "acknowledged_at" = k."acknowledged_at", "acknowledged_by" = k."acknowledged_by",
    "resolved_at" = k."resolved_at", "resolved_by" = k."resolved_by",
    "rollout_instance_id" = k."rollout_instance_id", "rollout_id" = k."rollout_id", "reason" = k."reason",
    "detail" = k."detail", "last_request_id" = k."last_request_id", "updated_at" = k."updated_at"
FROM "flag_merge_keeper" k WHERE f."id" = k."keeper_id";

INSERT INTO "manual_install_flag_event" ("flag_id", "at", "action", "actor", "detail")
SELECT k."keeper_id", CURRENT_TIMESTAMP, 'merged', 'migration',
       jsonb_build_object(
           'mergedFlagIds', (SELECT jsonb_agg(id::text ORDER BY id) FROM unnest(k."merged_ids") AS id),
           'status', k."status")
FROM "flag_merge_keeper" k;

DROP TABLE "flag_merge";
DROP TABLE "flag_merge_keeper";

-- At most one flag that is not closed per host. Prisma's schema can express neither the predicate nor a partial unique
-- index, and its diff does not see this one: schema.prisma names it in a comment. The application's
-- `ON CONFLICT (user_id, instance_id) WHERE status <> 'closed'` infers it.
CREATE UNIQUE INDEX "manual_install_flag_open_per_host_key" ON "manual_install_flag"("user_id", "instance_id") WHERE "status" <> 'closed';

-- A host's flags, closed ones included (the report shows a host's current flag).
CREATE INDEX "manual_install_flag_user_id_instance_id_idx" ON "manual_install_flag"("user_id", "instance_id");

-- CreateIndex
CREATE INDEX "manual_install_flag_occurrence_rollout_id_flag_id_idx" ON "manual_install_flag_occurrence"("rollout_id", "flag_id");

-- CreateIndex
CREATE INDEX "manual_install_flag_occurrence_flag_id_idx" ON "manual_install_flag_occurrence"("flag_id");

-- AddForeignKey
ALTER TABLE "manual_install_flag_occurrence" ADD CONSTRAINT "manual_install_flag_occurrence_flag_id_fkey" FOREIGN KEY ("flag_id") REFERENCES "manual_install_flag"("id") ON DELETE CASCADE ON UPDATE CASCADE;

COMMIT;
