/**
 * The handle createDatabase returns names each connection it holds (Prisma, the pool Prisma runs on, the install
 * path's pool), and close() ends every one of them, once, however often it is called.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, waitFor } from '@fleet/testing';
import type { TestDatabase } from '@fleet/testing';
import { createDatabase } from '../src/index.ts';

let testDb: TestDatabase;
let observer: pg.Client;

beforeAll(async () => {
  testDb = await createTestDatabase();
  observer = new pg.Client({ connectionString: testDb.url });
  await observer.connect();
});

afterAll(async () => {
  await observer?.end();
  await testDb?.drop();
});

/** Connections open in pg_stat_activity under each application_name starting with `name`. */
async function connectionsOf(name: string): Promise<Record<string, number>> {
  const { rows } = await observer.query<{ application_name: string; n: string }>(
    `SELECT application_name, count(*)::text AS n FROM pg_stat_activity WHERE application_name LIKE $1 || '%' GROUP BY 1`,
    [name],
  );
  return Object.fromEntries(rows.map((r) => [r.application_name, Number(r.n)]));
}

describe('createDatabase', () => {
  it('close() ends Prisma, its pool and the install path pool, and a second and third call are no-ops', async () => {
    const name = `client-test-${randomUUID().slice(0, 8)}`;
    const db = createDatabase({ url: testDb.url, applicationName: name });
    await db.prisma.$queryRaw`SELECT 1`;
    await db.pool.query('SELECT 1');
    await db.installPath.query('SELECT 1');
    expect(await connectionsOf(name)).toEqual({ [name]: 1, [`${name}:install-path`]: 1 });

    await Promise.all([db.close(), db.close()]);
    await db.close();

    expect(db.pool.ended).toBe(true);
    expect(db.installPath.ended).toBe(true);
    expect(db.pool.totalCount).toBe(0);
    expect(db.installPath.totalCount).toBe(0);
    // A backend leaves pg_stat_activity shortly after its client has gone.
    await waitFor('the connections to leave pg_stat_activity', async () =>
      Object.keys(await connectionsOf(name)).length === 0 ? true : null,
    );
    await expect(db.pool.query('SELECT 1')).rejects.toThrow();
    await expect(db.installPath.query('SELECT 1')).rejects.toThrow();
  });

  it('close() ends both pools when they were never used', async () => {
    const db = createDatabase({ url: testDb.url });
    await db.close();
    expect(db.pool.ended).toBe(true);
    expect(db.installPath.ended).toBe(true);
  });

  it('close() during a Prisma write lets it finish and ends, where ending Prisma under it lost its connection for good', async () => {
    // Before: ended in the middle of a write (updateMany runs in an implicit transaction), Prisma failed it with
    // "Unknown transaction status" and never gave its connection back, so pool.end() waited forever; this loop hung
    // on its second round. Every round here must close.
    for (let round = 0; round < 20; round++) {
      const name = `client-test-${randomUUID().slice(0, 8)}`;
      const db = createDatabase({ url: testDb.url, applicationName: name });
      await db.prisma.$queryRaw`SELECT 1`;
      const write = db.prisma.apiKey.updateMany({ where: { id: randomUUID() }, data: { lastUsedAt: new Date() } }).then(
        (r) => `updated ${r.count}`,
        (e: unknown) => `failed: ${String(e)}`,
      );
      // Rounds end Prisma at different points of the write: before it is sent, while it runs.
      if (round % 4 > 0) await new Promise((resolve) => setTimeout(resolve, (round % 4) * 0.5));
      const closed = await Promise.race([
        db.close().then(() => 'closed'),
        new Promise((resolve) => setTimeout(() => resolve('still closing after 10 s'), 10_000)),
      ]);
      expect(closed, `round ${round}`).toBe('closed');
      expect(db.pool.totalCount).toBe(0);
      void write;
    }
  });

  it('close() closes a connection checked out and never given back, after its grace', async () => {
    const name = `client-test-${randomUUID().slice(0, 8)}`;
    const db = createDatabase({ url: testDb.url, applicationName: name, closeGraceMs: 200 });
    const leaked = await db.pool.connect();
    await leaked.query('SELECT 1');
    const installLeaked = await db.installPath.connect();
    expect(await connectionsOf(name)).toEqual({ [name]: 1, [`${name}:install-path`]: 1 });
    await db.close();
    expect([db.pool.totalCount, db.installPath.totalCount]).toEqual([0, 0]);
    await waitFor('the connections to leave pg_stat_activity', async () =>
      Object.keys(await connectionsOf(name)).length === 0 ? true : null,
    );
    // It is no longer its user's to give back: pg says so to a late release.
    expect(() => installLeaked.release()).toThrow(/already been released/);
  });

  it('an idle connection of either pool that Postgres ends reaches onPoolError and does not crash the process', async () => {
    const name = `client-test-${randomUUID().slice(0, 8)}`;
    const errors: Error[] = [];
    const db = createDatabase({ url: testDb.url, applicationName: name, onPoolError: (e) => errors.push(e) });
    try {
      await db.prisma.$queryRaw`SELECT 1`;
      await db.installPath.query('SELECT 1');
      await observer.query(
        `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name LIKE $1 || '%'`,
        [name],
      );
      await waitFor('both pools to report their ended connection', () => (errors.length >= 2 ? true : null));
      expect(errors.every((e) => /terminat/i.test(e.message))).toBe(true);
      // Both pools open new connections afterwards.
      await db.prisma.$queryRaw`SELECT 1`;
      await db.installPath.query('SELECT 1');
    } finally {
      await db.close();
    }
  });
});
