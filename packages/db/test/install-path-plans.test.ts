/**
 * The install path's batch statements stay on the primary keys for the life of their connections. Postgres caches a
 * generic plan per connection after five runs of a prepared statement; made while install_attempt was nearly empty
 * (a fresh database), that plan read the whole table for every batch of answers. Here the statements are prepared
 * on a fresh database, and the table then grows while they keep running: no batch may scan a table sequentially.
 */
import { describe, expect, it } from 'vitest';
import { createTestDatabase } from '@fleet/testing';
import { INSTALL_PATH_STATEMENTS } from '../src/attempts/statements.ts';
import { createAttemptWriter, createDatabase, insertRollout, warmInstallPath } from '../src/index.ts';
import type { Database } from '../src/index.ts';

type PlanNode = { 'Node Type': string; 'Relation Name'?: string; 'Index Name'?: string; Plans?: PlanNode[] };

function planNodes(node: PlanNode): PlanNode[] {
  return [node, ...(node.Plans ?? []).flatMap(planNodes)];
}

type TableStats = { relname: string; seq_scan: string; n_tup_upd: string };

async function tableStats(db: Database): Promise<Map<string, { seqScans: number; updated: number }>> {
  const rows = await db.prisma.$queryRaw<TableStats[]>`
    SELECT relname::text AS relname, seq_scan::text AS seq_scan, n_tup_upd::text AS n_tup_upd
    FROM pg_stat_user_tables WHERE relname IN ('install_attempt', 'rollout_instance')`;
  return new Map(rows.map((r) => [r.relname, { seqScans: Number(r.seq_scan), updated: Number(r.n_tup_upd) }]));
}

describe('install path plans', () => {
  it('claims and answers batch after batch without a sequential scan, on a fresh database whose tables grow', async () => {
    const testDb = await createTestDatabase();
    const observer = createDatabase({ url: testDb.url, poolMax: 1 });
    try {
      const before = await tableStats(observer);
      const worker = createDatabase({ url: testDb.url, poolMax: 2 });
      const rounds = 30;
      const perRound = 20;
      try {
        const { rollout, instances } = await insertRollout(worker, {
          userId: '1234567898765432',
          force: false,
          concurrency: perRound,
          maxAttempts: 3,
          policy: {},
          instanceIds: Array.from({ length: rounds * perRound }, (_, i) => `i-plan${i}`),
        });
        const writer = createAttemptWriter(worker);
        for (let round = 0; round < rounds; round++) {
          const batch = instances.slice(round * perRound, (round + 1) * perRound);
          const claims = await Promise.all(
            batch.map((instance) =>
              writer.claim({
                rolloutInstanceId: instance.id,
                rolloutId: rollout.id,
                workerId: 'w1',
                signatureNonce: `n-${instance.id}`,
                staleAfterMs: 60_000,
              }),
            ),
          );
          await Promise.all(
            claims.map((claim, i) => {
              if (claim.kind !== 'claimed') throw new Error(`expected a claim, got ${claim.kind}`);
              return writer.finish({
                rolloutInstanceId: batch[i]!.id,
                attemptId: claim.attemptId,
                attemptNo: claim.attemptNo,
                maxAttempts: 3,
                nextAttemptAt: null,
                answer: {
                  finishedAt: new Date(),
                  durationMs: 5,
                  httpStatus: 200,
                  success: true,
                  errorCode: '200',
                  errorMessage: null,
                  requestId: `R-${i}`,
                  outcome: 'success',
                  outcomeKind: 'success',
                },
              });
            }),
          );
        }
      } finally {
        // A backend reports its table statistics when it exits (or up to 10 s after going idle).
        await worker.close();
      }
      const answered = rounds * perRound;
      let after = await tableStats(observer);
      for (
        let waited = 0;
        (after.get('install_attempt')?.updated ?? 0) - (before.get('install_attempt')?.updated ?? 0) < answered &&
        waited < 15_000;
        waited += 250
      ) {
        await new Promise((resolve) => setTimeout(resolve, 250));
        after = await tableStats(observer);
      }
      expect((after.get('install_attempt')?.updated ?? 0) - (before.get('install_attempt')?.updated ?? 0)).toBe(
        answered,
      );
      expect((after.get('install_attempt')?.seqScans ?? 0) - (before.get('install_attempt')?.seqScans ?? 0)).toBe(0);
      expect((after.get('rollout_instance')?.seqScans ?? 0) - (before.get('rollout_instance')?.seqScans ?? 0)).toBe(0);
    } finally {
      await observer.close();
      await testDb.drop();
    }
  }, 60_000);

  it('plans every batch statement as hashed input and primary-key fetches, from the statistics of a nearly empty database', async () => {
    // The generic plan is made once per connection from the statistics of that moment and kept; a nearly empty
    // table is the statistics that once gave a walk of every pending instance (claims) and a nested loop of every
    // attempt row against every input row (answers) for each batch.
    const testDb = await createTestDatabase();
    const db = createDatabase({ url: testDb.url, poolMax: 1 });
    try {
      await insertRollout(db, {
        userId: '1234567898765432',
        force: false,
        concurrency: 5,
        maxAttempts: 3,
        policy: {},
        instanceIds: ['i-shape1', 'i-shape2'],
      });
      await db.prisma.$executeRawUnsafe('ANALYZE rollout_instance');
      await db.prisma.$executeRawUnsafe('ANALYZE install_attempt');
      // With force_generic_plan (the install path's setting) the plan does not depend on the values: all null.
      // A connection of the install path's own pool: the session settings under test are the product's.
      const connection = await db.installPath.connect();
      try {
        for (const [name, statement] of Object.entries(INSTALL_PATH_STATEMENTS)) {
          await connection.query(`PREPARE shape_${name} AS ${statement.text}`);
          const nulls = Array.from({ length: statement.params }, () => 'NULL').join(', ');
          const { rows } = await connection.query<{ 'QUERY PLAN': [{ Plan: PlanNode }] }>(
            `EXPLAIN (FORMAT JSON) EXECUTE shape_${name}(${nulls})`,
          );
          const nodes = planNodes(rows[0]!['QUERY PLAN'][0].Plan);
          const joins = nodes.filter((n) => /Nested Loop|Merge Join/.test(n['Node Type'])).map((n) => n['Node Type']);
          expect(joins, `${name}: joins`).toEqual([]);
          const tableAccess = nodes
            .filter(
              (n) =>
                n['Relation Name'] === 'rollout_instance' ||
                n['Relation Name'] === 'install_attempt' ||
                n['Relation Name'] === 'rollout',
            )
            .filter((n) => n['Node Type'] !== 'ModifyTable')
            .map((n) => `${n['Node Type']} ${n['Relation Name']} ${n['Index Name'] ?? ''}`.trim());
          expect(tableAccess.length, `${name}: table access`).toBeGreaterThan(0);
          for (const access of tableAccess)
            expect(access, `${name}: every table read goes through its primary key`).toMatch(
              /^(Index Scan|Bitmap Heap Scan) (\w+)/,
            );
          const indexes = nodes.filter((n) => n['Index Name']).map((n) => n['Index Name']);
          expect(indexes.length, `${name}: indexes used`).toBeGreaterThan(0);
          for (const index of indexes)
            expect(index, `${name}: index`).toMatch(/^(rollout_instance|install_attempt|rollout)_pkey$/);
        }
      } finally {
        connection.release();
      }
    } finally {
      await db.close();
      await testDb.drop();
    }
  }, 60_000);
});

describe('database connections', () => {
  it("name their app in pg_stat_activity, the install path's apart", async () => {
    const testDb = await createTestDatabase();
    const db = createDatabase({ url: testDb.url, poolMax: 1, applicationName: 'fleet-test' });
    try {
      const viaPrisma = await db.prisma.$queryRaw<
        { name: string }[]
      >`SELECT application_name AS name FROM pg_stat_activity WHERE pid = pg_backend_pid()`;
      expect(viaPrisma[0]?.name).toBe('fleet-test');
      const { rows } = await db.installPath.query<{ name: string }>(
        'SELECT application_name AS name FROM pg_stat_activity WHERE pid = pg_backend_pid()',
      );
      expect(rows[0]?.name).toBe('fleet-test:install-path');
    } finally {
      await db.close();
      await testDb.drop();
    }
  });

  it('warmInstallPath opens the install path connections with the three batch statements prepared on each', async () => {
    const testDb = await createTestDatabase();
    const db = createDatabase({ url: testDb.url, poolMax: 1, applicationName: 'fleet-warm' });
    try {
      const pool = db.installPath;
      expect(pool.totalCount).toBe(0);
      await warmInstallPath(db, 2);
      expect(pool.totalCount).toBe(2);
      const names = ['fleet_claim_pending_many', 'fleet_finish_in_progress_many', 'fleet_write_attempts_many'];
      const clients = await Promise.all([pool.connect(), pool.connect()]);
      try {
        const pids = new Set<number>();
        for (const client of clients) {
          const { rows } = await client.query<{ name: string; pid: number }>(
            'SELECT name, pg_backend_pid() AS pid FROM pg_prepared_statements ORDER BY name',
          );
          expect(rows.map((r) => r.name)).toEqual(names);
          pids.add(rows[0]!.pid);
        }
        expect(pids.size).toBe(2);
      } finally {
        for (const client of clients) client.release();
      }
      // The warmed connections then carry batches as usual (same statement names, same text), and wrote nothing before.
      expect(await db.prisma.installAttempt.count()).toBe(0);
      const { rollout, instances } = await insertRollout(db, {
        userId: '1',
        force: false,
        concurrency: 2,
        maxAttempts: 1,
        policy: {},
        instanceIds: ['i-warm-1', 'i-warm-2'],
      });
      await db.prisma.rollout.update({ where: { id: rollout.id }, data: { status: 'running' } });
      const writer = createAttemptWriter(db);
      const claims = await Promise.all(
        instances.map((i) =>
          writer.claim({ rolloutInstanceId: i.id, rolloutId: rollout.id, workerId: 'w', staleAfterMs: 60_000 }),
        ),
      );
      expect(claims.map((c) => c.kind)).toEqual(['claimed', 'claimed']);
      expect(pool.totalCount).toBe(2);
    } finally {
      await db.close();
      await testDb.drop();
    }
  });
});
