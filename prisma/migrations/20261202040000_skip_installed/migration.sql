-- skipInstalled: a status check before an instance's first NodeInstall that finds the agent running ends the instance
-- `skipped`, with no NodeInstall made. The check is recorded like an attempt (kind status_check, attempt_no 0, its
-- RequestId), apart from the NodeInstall attempts (kind install, attempt_no from 1) that attempt_count counts.
-- The counters' triggers (state counts, finish seconds) count the new state like any other. It is no failure, so the
-- failure counts and their index do not see it.
ALTER TYPE "InstanceState" ADD VALUE 'skipped';

-- CreateEnum
CREATE TYPE "AttemptKind" AS ENUM ('install', 'status_check');

-- AlterTable
ALTER TABLE "install_attempt" ADD COLUMN "kind" "AttemptKind" NOT NULL DEFAULT 'install';
