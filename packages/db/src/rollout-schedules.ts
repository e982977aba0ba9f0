import type { EventSource, RolloutStatus } from '@fleet/rollout-domain';
import type { Database } from './client.ts';
import { recordEvents } from './events/record-events.ts';
import type { RolloutRecord } from './rollouts.ts';

/** Reads and writes of the scheduler (rollout-control applySchedules); the moves themselves are transitionRollout's. */

/**
 * Rollouts the scheduler acts on: scheduled or waiting ones, running ones whose policy has a schedule, and paused
 * ones whose schedule has an endAt not yet applied (endAt is the one part of a schedule that acts on a paused rollout).
 */
export async function listScheduledRollouts(db: Database): Promise<RolloutRecord[]> {
  const ids = await db.prisma.$queryRaw<{ id: string }[]>`
    SELECT id::text AS id FROM rollout
    WHERE status IN ('scheduled', 'waiting_for_window')
       OR (status = 'running' AND jsonb_typeof(policy -> 'schedule') = 'object')
       OR (status = 'paused' AND schedule_ended_at IS NULL AND jsonb_typeof(policy -> 'schedule' -> 'endAt') = 'string')`;
  if (ids.length === 0) return [];
  return (await db.prisma.rollout.findMany({
    where: { id: { in: ids.map((row) => row.id) } },
    orderBy: { createdAt: 'asc' },
  })) as RolloutRecord[];
}

/**
 * New bounds for a rollout that keeps its status (a running rollout's next window, a waiting one's later opening),
 * guarded on that status. True when written.
 */
export async function updateRolloutWindow(
  db: Database,
  rolloutId: string,
  update: { status: RolloutStatus; callsUntil: Date | null; nextWindowAt: Date | null },
): Promise<boolean> {
  const moved = await db.prisma.rollout.updateMany({
    where: { id: rolloutId, status: update.status },
    data: { callsUntil: update.callsUntil, nextWindowAt: update.nextWindowAt },
  });
  return moved.count === 1;
}

/**
 * endAt with endBehavior `pause` reached by a rollout that is already paused: it stays paused (the status and the
 * reason of the pause it is in are kept) and the end is marked applied, with its rollout.paused event (cause
 * schedule_end) in the same transaction. Guarded on paused with no end applied yet. True when written.
 */
export async function markPausedRolloutScheduleEnded(
  db: Database,
  rolloutId: string,
  end: { endAt: string; reason: string },
  by: EventSource,
): Promise<boolean> {
  return db.prisma.$transaction(async (tx) => {
    const now = new Date();
    const rows = await tx.$queryRaw<{ user_id: string }[]>`
      UPDATE rollout SET schedule_ended_at = ${now}, calls_until = NULL, next_window_at = NULL, updated_at = ${now}
      WHERE id = ${rolloutId}::uuid AND status = 'paused' AND schedule_ended_at IS NULL
      RETURNING user_id`;
    const [marked] = rows;
    if (!marked) return false;
    await recordEvents(tx, by, [
      {
        type: 'rollout.paused',
        rolloutId,
        userId: marked.user_id,
        data: { cause: { kind: 'schedule_end', endAt: end.endAt }, reason: end.reason },
      },
    ]);
    return true;
  });
}
