-- AlterTable
ALTER TABLE "rollout" ADD COLUMN     "current_wave" INTEGER NOT NULL DEFAULT 1,
ADD COLUMN     "wave_count" INTEGER NOT NULL DEFAULT 1;

-- AlterTable
ALTER TABLE "rollout_instance" ADD COLUMN     "wave_no" INTEGER NOT NULL DEFAULT 1;

-- CreateIndex
CREATE INDEX "rollout_instance_rollout_id_wave_no_state_idx" ON "rollout_instance"("rollout_id", "wave_no", "state");
