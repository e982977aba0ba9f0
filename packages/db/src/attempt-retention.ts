import type { Database } from './client.ts';
import { Prisma } from './generated/prisma/client.ts';

/**
 * Attempt retention. A finished rollout's attempt rows (one per NodeInstall call, a few hundred bytes each with their
 * indexes) are its largest part; after the retention period they are replaced by a summary on the rollout: how many
 * attempts ended how (outcome, outcome kind, error code). The instances keep what an operator still reads of an old
 * rollout: final state, attempt count, last outcome and error, last RequestId, manual-install reason.
 *
 * Crash-safe without one long transaction: the summary is written first (only if none is there, so a second pass
 * never recounts a half-deleted history), then the rows go in batches, then the rollout is marked summarised.
 */

/** What one rollout's attempts were, kept on the rollout once their rows are gone. */
export type AttemptSummary = {
  attempts: number;
  /** Instances that had at least one attempt. */
  instances: number;
  firstStartedAt: string | null;
  lastFinishedAt: string | null;
  byOutcome: { outcome: string | null; outcomeKind: string | null; errorCode: string | null; attempts: number }[];
};

export type AttemptRetentionResult = {
  /** Rollouts whose attempt rows were replaced by their summary in this pass. */
  rollouts: number;
  /** Attempt rows deleted. */
  attemptsDeleted: number;
};

export type AttemptRetentionOptions = {
  /** Rollouts finished before this are summarised. */
  finishedBefore: Date;
  /** Most rollouts one pass summarises (oldest first); the next pass takes the rest. Default 10. */
  maxRollouts?: number;
  /** Attempt rows deleted per statement. Default 5000. */
  batchSize?: number;
};

/** Summarises, then deletes, the attempt rows of finished rollouts older than `finishedBefore`. */
export async function summariseOldAttempts(
  db: Database,
  options: AttemptRetentionOptions,
): Promise<AttemptRetentionResult> {
  const batchSize = options.batchSize ?? 5000;
  const due = await db.prisma.rollout.findMany({
    where: {
      status: { in: ['completed', 'cancelled'] },
      finishedAt: { lt: options.finishedBefore },
      summarisedAt: null,
    },
    orderBy: { finishedAt: 'asc' },
    take: options.maxRollouts ?? 10,
    select: { id: true },
  });
  const result: AttemptRetentionResult = { rollouts: 0, attemptsDeleted: 0 };
  for (const { id } of due) {
    await writeSummaryOnce(db, id);
    for (;;) {
      const deleted = await db.prisma.$executeRaw`
        DELETE FROM install_attempt WHERE id IN (
          SELECT id FROM install_attempt WHERE rollout_id = ${id}::uuid LIMIT ${batchSize})`;
      result.attemptsDeleted += deleted;
      if (deleted < batchSize) break;
    }
    // Guarded: only a finished rollout is marked (a rollout is never reopened, but say so in the write).
    const marked = await db.prisma.rollout.updateMany({
      where: { id, status: { in: ['completed', 'cancelled'] }, summarisedAt: null },
      data: { summarisedAt: new Date() },
    });
    result.rollouts += marked.count;
  }
  return result;
}

async function writeSummaryOnce(db: Database, rolloutId: string): Promise<void> {
  const groups = await db.prisma.$queryRaw<
    { outcome: string | null; outcome_kind: string | null; error_code: string | null; attempts: bigint }[]
  >`SELECT outcome::text AS outcome, outcome_kind, error_code, count(*) AS attempts
    FROM install_attempt WHERE rollout_id = ${rolloutId}::uuid
    GROUP BY 1, 2, 3 ORDER BY count(*) DESC, 1, 2, 3`;
  const [totals] = await db.prisma.$queryRaw<
    { instances: bigint; first_started_at: Date | null; last_finished_at: Date | null }[]
  >`SELECT count(DISTINCT rollout_instance_id) AS instances, min(started_at) AS first_started_at,
      max(finished_at) AS last_finished_at
    FROM install_attempt WHERE rollout_id = ${rolloutId}::uuid`;
  const summary: AttemptSummary = {
    attempts: groups.reduce((sum, group) => sum + Number(group.attempts), 0),
    instances: Number(totals?.instances ?? 0),
    firstStartedAt: totals?.first_started_at?.toISOString() ?? null,
    lastFinishedAt: totals?.last_finished_at?.toISOString() ?? null,
    byOutcome: groups.map((group) => ({
      outcome: group.outcome,
      outcomeKind: group.outcome_kind,
      errorCode: group.error_code,
      attempts: Number(group.attempts),
    })),
  };
  // Only where none is written yet: after a crash mid-delete the first summary (of every row) stays.
  await db.prisma.rollout.updateMany({
    where: { id: rolloutId, attemptSummary: { equals: Prisma.DbNull } },
    data: { attemptSummary: summary as unknown as Prisma.InputJsonValue },
  });
}
