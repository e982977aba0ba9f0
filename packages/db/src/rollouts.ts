import { randomUUID } from 'node:crypto';
import type { InstanceState, RolloutStatus } from '@fleet/rollout-domain';
import { INSTANCE_STATES, decideRollout } from '@fleet/rollout-domain';
import type { Database } from './client.ts';
import { Prisma } from './generated/prisma/client.ts';

export type InstanceCounts = { total: number } & Record<InstanceState, number>;

export type NewRollout = {
  userId: string;
  force: boolean;
  concurrency: number;
  maxAttempts: number;
  /** The normalised policy, stored whole. */
  policy: Prisma.InputJsonValue;
  /** Already validated and de-duplicated. */
  instanceIds: readonly string[];
  /** Wave sizes in instance order (see planWaveSizes); default one wave of everything. */
  waveSizes?: readonly number[];
  /** The API key that asked for it (null: made outside the API). */
  createdByKeyId?: string | null;
};

export type InsertRolloutOptions = {
  /**
   * Runs first inside the rollout's transaction, with the new rollout's id: a write that must commit or roll back
   * together with the rollout (the Idempotency-Key record). Throwing aborts the whole insert.
   */
  inTransaction?: (tx: Prisma.TransactionClient, rolloutId: string) => Promise<void>;
};

export type RolloutRecord = {
  id: string;
  userId: string;
  force: boolean;
  status: RolloutStatus;
  statusReason: string | null;
  concurrency: number;
  maxAttempts: number;
  policy: unknown;
  totalInstances: number;
  enqueuedAt: Date | null;
  currentWave: number;
  waveCount: number;
  createdAt: Date;
  updatedAt: Date;
  finishedAt: Date | null;
};

/** Rows per INSERT statement: one round trip carries this many instances (arrays travel as one parameter). */
const INSERT_CHUNK = 20_000;

/**
 * Records a rollout and all its instances in one transaction: either the whole rollout exists or none of it.
 * Instances go in as array parameters (`unnest`), a few statements for any size rather than one per instance.
 */
export async function insertRollout(
  db: Database,
  rollout: NewRollout,
  options: InsertRolloutOptions = {},
): Promise<{ rollout: RolloutRecord; instances: { id: bigint; instanceId: string; waveNo: number }[] }> {
  const id = randomUUID();
  const waveSizes = rollout.waveSizes && rollout.waveSizes.length > 0 ? rollout.waveSizes : [rollout.instanceIds.length];
  const waveOf: number[] = [];
  waveSizes.forEach((size, i) => {
    for (let n = 0; n < size; n++) waveOf.push(i + 1);
  });
  if (waveOf.length !== rollout.instanceIds.length) throw new Error('wave sizes do not add up to the instance count');
  return db.$transaction(
    async (tx) => {
      await options.inTransaction?.(tx, id);
      const created = await tx.rollout.create({
        data: {
          id,
          userId: rollout.userId,
          force: rollout.force,
          concurrency: rollout.concurrency,
          maxAttempts: rollout.maxAttempts,
          policy: rollout.policy,
          totalInstances: rollout.instanceIds.length,
          waveCount: waveSizes.length,
          createdByKeyId: rollout.createdByKeyId ?? null,
        },
      });
      const instances: { id: bigint; instanceId: string; waveNo: number }[] = [];
      for (let i = 0; i < rollout.instanceIds.length; i += INSERT_CHUNK) {
        const chunk = rollout.instanceIds.slice(i, i + INSERT_CHUNK) as string[];
        const waves = waveOf.slice(i, i + INSERT_CHUNK);
        const rows = await tx.$queryRaw<{ id: bigint; instance_id: string; wave_no: number }[]>`
          INSERT INTO rollout_instance (rollout_id, instance_id, wave_no)
          SELECT ${id}::uuid, t.instance_id, t.wave_no FROM unnest(${chunk}::text[], ${waves}::int[]) AS t(instance_id, wave_no)
          RETURNING id, instance_id, wave_no`;
        for (const row of rows) instances.push({ id: row.id, instanceId: row.instance_id, waveNo: row.wave_no });
      }
      return { rollout: created as RolloutRecord, instances };
    },
    { timeout: 120_000, maxWait: 10_000 },
  );
}

export async function findRollout(db: Database, id: string): Promise<RolloutRecord | null> {
  return (await db.rollout.findUnique({ where: { id } })) as RolloutRecord | null;
}

export async function markRolloutEnqueued(db: Database, id: string): Promise<void> {
  await db.rollout.updateMany({ where: { id, enqueuedAt: null }, data: { enqueuedAt: new Date() } });
}

/**
 * Counts per instance state, read from rollout_state_count: a few rows whatever the rollout's size. Triggers keep
 * those counters in the transaction of every instance write (migration rollout_state_counts), so they are exactly
 * what counting the rollout's rows would give.
 */
export async function countInstances(db: Database, rolloutId: string): Promise<InstanceCounts> {
  const rows = await db.$queryRaw<{ state: InstanceState; n: number }[]>`
    SELECT state::text AS state, n FROM rollout_state_count WHERE rollout_id = ${rolloutId}::uuid`;
  const counts = Object.fromEntries(INSTANCE_STATES.map((s) => [s, 0])) as InstanceCounts;
  counts.total = 0;
  for (const row of rows) {
    counts[row.state] = Number(row.n);
    counts.total += Number(row.n);
  }
  return counts;
}

export async function listRolloutsByStatus(db: Database, statuses: RolloutStatus[]): Promise<RolloutRecord[]> {
  return (await db.rollout.findMany({ where: { status: { in: statuses } }, orderBy: { createdAt: 'asc' } })) as RolloutRecord[];
}

/**
 * Moves a rollout to `completed` when none of its instances is open any more. A single guarded statement: safe to
 * call from every worker after every final transition, and only the first caller that sees the last instance final
 * changes anything. Returns true if this call completed it. "None open" is read from rollout_state_count, so the
 * check costs the same at 100 instances as at 100,000.
 */
export async function completeRolloutIfDone(db: Database, rolloutId: string): Promise<boolean> {
  const from = (['running', 'paused'] as const).filter((s) => decideRollout(s, { type: 'all_instances_final' }).type === 'transition');
  const changed = await db.$executeRaw`
    UPDATE rollout SET status = 'completed', finished_at = now(), updated_at = now()
    WHERE id = ${rolloutId}::uuid AND status::text = ANY(${from as string[]}::text[])
      AND NOT EXISTS (
        SELECT 1 FROM rollout_state_count
        WHERE rollout_id = ${rolloutId}::uuid AND state IN ('pending', 'in_progress') AND n > 0)`;
  return changed > 0;
}
