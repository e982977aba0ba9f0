-- CreateTable
CREATE TABLE "fleet_event" (
    "id" BIGSERIAL NOT NULL,
    "type" TEXT NOT NULL,
    "rollout_id" UUID,
    "user_id" TEXT,
    "actor_kind" TEXT NOT NULL,
    "actor_id" TEXT NOT NULL,
    "actor_name" TEXT,
    "request_id" TEXT,
    "data" JSONB NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "fleet_event_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "fleet_event_rollout_id_id_idx" ON "fleet_event"("rollout_id", "id");

-- CreateIndex
CREATE INDEX "fleet_event_user_id_id_idx" ON "fleet_event"("user_id", "id");

-- CreateIndex
CREATE INDEX "fleet_event_actor_id_id_idx" ON "fleet_event"("actor_id", "id");

-- CreateIndex
CREATE INDEX "fleet_event_type_idx" ON "fleet_event"("type");
