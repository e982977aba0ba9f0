import { describe, expect, it } from 'vitest';
import { instanceIds as ids } from '@fleet/testing';
import { useTestDatabase } from './support.ts';
import { listInstances, recordRollout } from '../src/index.ts';
import type { InstanceState } from '@fleet/rollout-domain';
import type { Database } from '../src/index.ts';

let db: Database;
useTestDatabase({ poolMax: 3 }, (opened) => (db = opened));

const SIZE = 6_000;

async function largeRollout(prefix: string): Promise<string> {
  const rollout = await recordRollout(db, {
    userId: '1234567898765432',
    force: false,
    concurrency: 5,
    maxAttempts: 3,
    policy: {},
    instanceIds: ids(SIZE, prefix),
  });
  return rollout.id;
}

/** Every 7th instance failed: a state filter with pages to walk. */
async function failEverySeventh(rolloutId: string): Promise<void> {
  await db.pool.query(`UPDATE rollout_instance SET state = 'failed' WHERE rollout_id = $1::uuid AND id % 7 = 0`, [
    rolloutId,
  ]);
}

async function walk(rolloutId: string, state?: InstanceState): Promise<{ ids: bigint[]; pages: number }> {
  const seen: bigint[] = [];
  let after: bigint | undefined;
  let pages = 0;
  for (;;) {
    const page = await listInstances(db, rolloutId, {
      limit: 500,
      ...(state ? { state } : {}),
      ...(after ? { after } : {}),
    });
    pages++;
    seen.push(...page.instances.map((i) => i.id));
    if (page.nextCursor === null) return { ids: seen, pages };
    after = page.nextCursor;
  }
}

/** Buffers (shared, hit or read) one call of the page function touched, its second call on one connection. */
async function pageBuffers(sql: string, values: unknown[]): Promise<number> {
  const client = await db.pool.connect();
  try {
    let plan: { 'Shared Hit Blocks': number; 'Shared Read Blocks': number } | undefined;
    // The first call also reads the catalog for the function's plan; the second shows the page alone.
    for (let i = 0; i < 2; i++) {
      const { rows } = await client.query<{ 'QUERY PLAN': [{ Plan: typeof plan }] }>(
        `EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) ${sql}`,
        values,
      );
      plan = rows[0]!['QUERY PLAN'][0].Plan;
    }
    return plan!['Shared Hit Blocks'] + plan!['Shared Read Blocks'];
  } finally {
    client.release();
  }
}

describe('listInstances: keyset pages through fleet_instance_page', () => {
  it('walks every instance once in id order, and every failed one with the state filter', async () => {
    const rolloutId = await largeRollout('i-pg');
    await failEverySeventh(rolloutId);
    const { rows } = await db.pool.query<{ id: string; state: string }>(
      `SELECT id::text, state::text FROM rollout_instance WHERE rollout_id = $1::uuid ORDER BY rollout_instance.id`,
      [rolloutId],
    );
    const all = await walk(rolloutId);
    expect(all.ids).toEqual(rows.map((r) => BigInt(r.id)));
    expect(all.pages).toBe(SIZE / 500);
    const failed = await walk(rolloutId, 'failed');
    expect(failed.ids).toEqual(rows.filter((r) => r.state === 'failed').map((r) => BigInt(r.id)));
    expect(failed.ids.length).toBeGreaterThan(800);
  });

  it('shows the times as Date.prototype.toISOString writes them, null where there is none', async () => {
    const rolloutId = await largeRollout('i-pt');
    await db.pool.query(
      `UPDATE rollout_instance SET started_at = '2026-12-02T09:05:07.001Z', finished_at = '2026-12-02T23:59:59.999+05',
         next_attempt_at = '2026-01-02T03:04:05Z' WHERE id = (SELECT min(id) FROM rollout_instance WHERE rollout_id = $1::uuid)`,
      [rolloutId],
    );
    const page = await listInstances(db, rolloutId, { limit: 2 });
    const stored = await db.prisma.rolloutInstance.findMany({ where: { rolloutId }, orderBy: { id: 'asc' }, take: 2 });
    const iso = (d: Date | null) => d?.toISOString() ?? null;
    expect(page.instances.map((i) => [i.createdAt, i.updatedAt, i.startedAt, i.finishedAt, i.nextAttemptAt])).toEqual(
      stored.map((r) => [
        iso(r.createdAt),
        iso(r.updatedAt),
        iso(r.startedAt),
        iso(r.finishedAt),
        iso(r.nextAttemptAt),
      ]),
    );
    expect(page.instances[0]).toMatchObject({
      startedAt: '2026-12-02T09:05:07.001Z',
      finishedAt: '2026-12-02T18:59:59.999Z',
      nextAttemptAt: '2026-01-02T03:04:05.000Z',
    });
    expect(page.instances[1]!.startedAt).toBeNull();
  });

  it("reads a page's rows, not the rollout's, in a table whose statistics do not know the rollout", async () => {
    // Never analysed (as a new rollout is to the statistics): as a plain statement, the planner estimated the rollout
    // at a few dozen rows and fetched and sorted all of them through a bitmap scan for every page. Measured here: 5
    // buffers for the function's page from the middle of 6,000 instances (81 heap pages), 57 for the plain statement.
    const rolloutId = await largeRollout('i-pb');
    const { rows } = await db.pool.query<{ pages: number }>(
      `SELECT count(DISTINCT (ctid::text::point)[0])::int AS pages FROM rollout_instance WHERE rollout_id = $1::uuid`,
      [rolloutId],
    );
    const rolloutPages = rows[0]!.pages;
    expect(rolloutPages).toBeGreaterThan(40);
    const middle = await db.pool.query<{ id: string }>(
      `SELECT id::text FROM rollout_instance WHERE rollout_id = $1::uuid ORDER BY rollout_instance.id OFFSET $2 LIMIT 1`,
      [rolloutId, SIZE / 2],
    );
    const after = middle.rows[0]!.id;
    const page = await pageBuffers(`SELECT * FROM fleet_instance_page($1::uuid, $2::bigint, 101)`, [rolloutId, after]);
    await failEverySeventh(rolloutId);
    const failedPage = await pageBuffers(
      `SELECT * FROM fleet_instance_page_in_state($1::uuid, 'failed', $2::bigint, 101)`,
      [rolloutId, after],
    );
    expect(page).toBeLessThan(rolloutPages / 4);
    expect(failedPage).toBeLessThan(rolloutPages / 2);
  });
});
