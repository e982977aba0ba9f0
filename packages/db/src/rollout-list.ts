import type { RolloutStatus } from '@fleet/rollout-domain';
import type { Database } from './client.ts';
import type { RolloutRecord } from './rollouts.ts';

/** Position after which the next page starts: the last rollout of the previous page (newest first). */
export type RolloutListPosition = { createdAt: Date; id: string };

export type RolloutListPage = { rollouts: RolloutRecord[]; next: RolloutListPosition | null };

/**
 * A page of rollouts, newest first, in a stable order (createdAt, id). `userIds`: only rollouts of these accounts
 * (what an API key may see); null: every account. Uses the (user_id, created_at) index.
 */
export async function listRollouts(
  db: Database,
  options: { userIds: readonly string[] | null; status?: RolloutStatus; limit: number; after?: RolloutListPosition },
): Promise<RolloutListPage> {
  const { after } = options;
  const rows = (await db.prisma.rollout.findMany({
    where: {
      ...(options.userIds === null ? {} : { userId: { in: [...options.userIds] } }),
      ...(options.status ? { status: options.status } : {}),
      ...(after
        ? { OR: [{ createdAt: { lt: after.createdAt } }, { createdAt: after.createdAt, id: { lt: after.id } }] }
        : {}),
    },
    orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
    take: options.limit + 1,
  })) as RolloutRecord[];
  const rollouts = rows.slice(0, options.limit);
  const last = rollouts[rollouts.length - 1];
  return { rollouts, next: rows.length > options.limit && last ? { createdAt: last.createdAt, id: last.id } : null };
}
