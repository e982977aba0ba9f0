-- CreateEnum
CREATE TYPE "ManualFlagStatus" AS ENUM ('open', 'acknowledged', 'resolved', 'closed');

-- CreateEnum
CREATE TYPE "ApiRole" AS ENUM ('viewer', 'operator', 'admin');

-- AlterTable
ALTER TABLE "rollout" ADD COLUMN     "created_by_key_id" UUID,
ADD COLUMN     "parent_rollout_id" UUID;

-- AlterTable
ALTER TABLE "rollout_instance" ADD COLUMN     "agent_status" TEXT,
ADD COLUMN     "verification" TEXT,
ADD COLUMN     "verified_at" TIMESTAMPTZ(3),
ADD COLUMN     "verify_deadline_at" TIMESTAMPTZ(3);

-- CreateTable
CREATE TABLE "manual_install_flag" (
    "id" BIGSERIAL NOT NULL,
    "rollout_instance_id" BIGINT NOT NULL,
    "rollout_id" UUID NOT NULL,
    "user_id" TEXT NOT NULL,
    "instance_id" TEXT NOT NULL,
    "reason" TEXT NOT NULL,
    "detail" TEXT,
    "last_request_id" TEXT,
    "status" "ManualFlagStatus" NOT NULL DEFAULT 'open',
    "note" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "acknowledged_at" TIMESTAMPTZ(3),
    "acknowledged_by" TEXT,
    "resolved_at" TIMESTAMPTZ(3),
    "resolved_by" TEXT,

    CONSTRAINT "manual_install_flag_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "manual_install_flag_event" (
    "id" BIGSERIAL NOT NULL,
    "flag_id" BIGINT NOT NULL,
    "at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "action" TEXT NOT NULL,
    "actor" TEXT,
    "note" TEXT,
    "detail" JSONB,

    CONSTRAINT "manual_install_flag_event_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "api_key" (
    "id" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "key_prefix" TEXT NOT NULL,
    "key_hash" TEXT NOT NULL,
    "role" "ApiRole" NOT NULL,
    "user_ids" TEXT[],
    "all_accounts" BOOLEAN NOT NULL DEFAULT false,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "created_by_id" UUID,
    "revoked_at" TIMESTAMPTZ(3),
    "last_used_at" TIMESTAMPTZ(3),

    CONSTRAINT "api_key_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "idempotency_record" (
    "api_key_id" UUID NOT NULL,
    "key" TEXT NOT NULL,
    "request_hash" TEXT NOT NULL,
    "resource_id" TEXT,
    "status" INTEGER,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "idempotency_record_pkey" PRIMARY KEY ("api_key_id","key")
);

-- CreateIndex
CREATE UNIQUE INDEX "manual_install_flag_rollout_instance_id_key" ON "manual_install_flag"("rollout_instance_id");

-- CreateIndex
CREATE INDEX "manual_install_flag_user_id_status_id_idx" ON "manual_install_flag"("user_id", "status", "id");

-- CreateIndex
CREATE INDEX "manual_install_flag_rollout_id_status_idx" ON "manual_install_flag"("rollout_id", "status");

-- CreateIndex
CREATE INDEX "manual_install_flag_event_flag_id_at_idx" ON "manual_install_flag_event"("flag_id", "at");

-- CreateIndex
CREATE UNIQUE INDEX "api_key_key_hash_key" ON "api_key"("key_hash");

-- CreateIndex
CREATE INDEX "idempotency_record_created_at_idx" ON "idempotency_record"("created_at");

-- CreateIndex
CREATE INDEX "rollout_parent_rollout_id_idx" ON "rollout"("parent_rollout_id");

-- CreateIndex
CREATE INDEX "rollout_instance_rollout_id_finished_at_idx" ON "rollout_instance"("rollout_id", "finished_at");

-- CreateIndex
CREATE INDEX "rollout_instance_verification_verify_deadline_at_idx" ON "rollout_instance"("verification", "verify_deadline_at");

-- AddForeignKey
ALTER TABLE "manual_install_flag_event" ADD CONSTRAINT "manual_install_flag_event_flag_id_fkey" FOREIGN KEY ("flag_id") REFERENCES "manual_install_flag"("id") ON DELETE CASCADE ON UPDATE CASCADE;
