import type { InstanceState, RolloutStatus } from '@fleet/rollout-domain';
import { INSTANCE_STATES } from '@fleet/rollout-domain';
import type { Database } from './client.ts';
import type { InstanceCounts, RolloutRecord } from './rollouts.ts';

/** Position after which the next page starts: the last rollout of the previous page (newest first). */
export type RolloutListPosition = { createdAt: Date; id: string };

export type RolloutListPage = { rollouts: RolloutRecord[]; next: RolloutListPosition | null };

/**
 * A page of rollouts, newest first, in a stable order (createdAt, id). `userIds`: only rollouts of these accounts
 * (what an API key may see); null: every account. Uses the (user_id, created_at) index.
 */
export async function listRollouts(
  db: Database,
  options: {
    userIds: readonly string[] | null;
    status?: RolloutStatus;
    /** Only rollouts that hold this instance (uses the rollout_instance (instance_id) index). */
    instanceId?: string;
    limit: number;
    after?: RolloutListPosition;
  },
): Promise<RolloutListPage> {
  const { after } = options;
  const rows = (await db.prisma.rollout.findMany({
    where: {
      ...(options.userIds === null ? {} : { userId: { in: [...options.userIds] } }),
      ...(options.status ? { status: options.status } : {}),
      ...(options.instanceId ? { instances: { some: { instanceId: options.instanceId } } } : {}),
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

/**
 * Counts per instance state of each of `rolloutIds` (a listing's page), from rollout_state_count: a few rows per
 * rollout whatever its size, in one query for the page.
 */
export async function countInstancesOfRollouts(
  db: Database,
  rolloutIds: readonly string[],
): Promise<Map<string, InstanceCounts>> {
  const counts = new Map<string, InstanceCounts>();
  for (const id of rolloutIds) {
    const zero = Object.fromEntries(INSTANCE_STATES.map((s) => [s, 0])) as InstanceCounts;
    zero.total = 0;
    counts.set(id, zero);
  }
  if (rolloutIds.length === 0) return counts;
  const { rows } = await db.pool.query<{ rollout_id: string; state: InstanceState; n: number }>({
    name: 'fleet_count_instances_of_rollouts',
    text: `SELECT rollout_id::text AS rollout_id, state::text AS state, n FROM rollout_state_count
           WHERE rollout_id = ANY($1::uuid[])`,
    values: [[...rolloutIds]],
  });
  for (const row of rows) {
    const of = counts.get(row.rollout_id);
    if (!of) continue;
    of[row.state] = Number(row.n);
    of.total += Number(row.n);
  }
  return counts;
}

/** The names of the API keys `keyIds` (who created the rollouts of a page); a key deleted since is left out. */
export async function apiKeyNamesOf(db: Database, keyIds: readonly string[]): Promise<Map<string, string>> {
  if (keyIds.length === 0) return new Map();
  const keys = await db.prisma.apiKey.findMany({
    where: { id: { in: [...new Set(keyIds)] } },
    select: { id: true, name: true },
  });
  return new Map(keys.map((key) => [key.id, key.name]));
}
