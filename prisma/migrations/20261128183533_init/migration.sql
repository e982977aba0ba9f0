-- CreateEnum
CREATE TYPE "RolloutStatus" AS ENUM ('running', 'paused', 'completed', 'cancelled');

-- CreateEnum
CREATE TYPE "InstanceState" AS ENUM ('pending', 'in_progress', 'succeeded', 'failed', 'cancelled');

-- CreateEnum
CREATE TYPE "AttemptOutcome" AS ENUM ('success', 'retryable', 'final', 'abandoned');

-- CreateTable
CREATE TABLE "rollout" (
    "id" UUID NOT NULL,
    "user_id" TEXT NOT NULL,
    "force" BOOLEAN NOT NULL,
    "status" "RolloutStatus" NOT NULL DEFAULT 'running',
    "status_reason" TEXT,
    "concurrency" INTEGER NOT NULL,
    "max_attempts" INTEGER NOT NULL,
    "policy" JSONB NOT NULL,
    "total_instances" INTEGER NOT NULL,
    "enqueued_at" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "finished_at" TIMESTAMPTZ(3),

    CONSTRAINT "rollout_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "rollout_instance" (
    "id" BIGSERIAL NOT NULL,
    "rollout_id" UUID NOT NULL,
    "instance_id" TEXT NOT NULL,
    "state" "InstanceState" NOT NULL DEFAULT 'pending',
    "attempt_count" INTEGER NOT NULL DEFAULT 0,
    "last_outcome" TEXT,
    "last_http_status" INTEGER,
    "last_error_code" TEXT,
    "last_error_message" TEXT,
    "last_request_id" TEXT,
    "next_attempt_at" TIMESTAMPTZ(3),
    "needs_manual_install" BOOLEAN NOT NULL DEFAULT false,
    "manual_install_reason" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "started_at" TIMESTAMPTZ(3),
    "finished_at" TIMESTAMPTZ(3),

    CONSTRAINT "rollout_instance_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "install_attempt" (
    "id" BIGSERIAL NOT NULL,
    "rollout_instance_id" BIGINT NOT NULL,
    "rollout_id" UUID NOT NULL,
    "attempt_no" INTEGER NOT NULL,
    "started_at" TIMESTAMPTZ(3) NOT NULL,
    "finished_at" TIMESTAMPTZ(3),
    "duration_ms" INTEGER,
    "http_status" INTEGER,
    "success" BOOLEAN,
    "error_code" TEXT,
    "error_message" TEXT,
    "request_id" TEXT,
    "outcome" "AttemptOutcome",
    "outcome_kind" TEXT,
    "worker_id" TEXT,

    CONSTRAINT "install_attempt_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "rollout_user_id_created_at_idx" ON "rollout"("user_id", "created_at");

-- CreateIndex
CREATE INDEX "rollout_status_idx" ON "rollout"("status");

-- CreateIndex
CREATE INDEX "rollout_instance_rollout_id_state_id_idx" ON "rollout_instance"("rollout_id", "state", "id");

-- CreateIndex
CREATE INDEX "rollout_instance_rollout_id_id_idx" ON "rollout_instance"("rollout_id", "id");

-- CreateIndex
CREATE UNIQUE INDEX "rollout_instance_rollout_id_instance_id_key" ON "rollout_instance"("rollout_id", "instance_id");

-- CreateIndex
CREATE INDEX "install_attempt_rollout_id_outcome_idx" ON "install_attempt"("rollout_id", "outcome");

-- CreateIndex
CREATE UNIQUE INDEX "install_attempt_rollout_instance_id_attempt_no_key" ON "install_attempt"("rollout_instance_id", "attempt_no");

-- AddForeignKey
ALTER TABLE "rollout_instance" ADD CONSTRAINT "rollout_instance_rollout_id_fkey" FOREIGN KEY ("rollout_id") REFERENCES "rollout"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "install_attempt" ADD CONSTRAINT "install_attempt_rollout_instance_id_fkey" FOREIGN KEY ("rollout_instance_id") REFERENCES "rollout_instance"("id") ON DELETE CASCADE ON UPDATE CASCADE;
