import type { RolloutStatus } from '@fleet/rollout-domain';
import type { Database } from './client.ts';
import type { RolloutRecord } from './rollouts.ts';

/** Reads and writes of the scheduler (rollout-control applySchedules); the moves themselves are transitionRollout's. */

/** Rollouts the scheduler acts on: scheduled or waiting ones, and running ones whose policy has a schedule. */
export async function listScheduledRollouts(db: Database): Promise<RolloutRecord[]> {
  const ids = await db.prisma.$queryRaw<{ id: string }[]>`
    SELECT id::text AS id FROM rollout
    WHERE status IN ('scheduled', 'waiting_for_window')
       OR (status = 'running' AND jsonb_typeof(policy -> 'schedule') = 'object')`;
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
