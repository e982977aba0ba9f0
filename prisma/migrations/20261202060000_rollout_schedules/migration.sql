-- Schedules and maintenance windows (policy.schedule): a rollout waits `scheduled` for its startAt and
-- `waiting_for_window` outside its windows. The scheduler (rollout-control applySchedules, run by the reconciler)
-- moves it and writes calls_until, the latest moment a call may start, which every claim checks. The decisions are
-- taken on Postgres-aligned time (db createDatabaseClock), not one host's clock.
ALTER TYPE "RolloutStatus" ADD VALUE 'scheduled';
ALTER TYPE "RolloutStatus" ADD VALUE 'waiting_for_window';

-- AlterTable
ALTER TABLE "rollout" ADD COLUMN "calls_until" TIMESTAMPTZ(3),
ADD COLUMN "next_window_at" TIMESTAMPTZ(3),
ADD COLUMN "schedule_ended_at" TIMESTAMPTZ(3),
ADD COLUMN "start_now_until" TIMESTAMPTZ(3);
