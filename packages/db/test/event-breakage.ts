import { beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../src/index.ts';

/**
 * Issue 16's "both or neither" as a table: each case makes a change through the db function its real path calls,
 * first with the insert of its event broken (an AFTER INSERT trigger: the change's statements have run in its
 * transaction, the event's fails), which must leave the change unmade and no event at all; then unbroken, which must
 * make the change with exactly its one event. A writer that committed its change in a transaction of its own before
 * the event's fails the first half.
 *
 * Not also at COMMIT (a deferred trigger, as events.test.ts does for completeRolloutIfDone on a pg client): through
 * Prisma (6.19, client engine with @prisma/adapter-pg) a transaction whose COMMIT fails keeps its pool connection
 * checked out for good; measured here, three such cases exhausted a pool of four and every later one timed out.
 */
export type AtomicityCase = {
  /** The event broken, then expected. */
  type: string;
  /** The real path (API route, worker, reconciler, notifier) and the db function it calls, which the case calls. */
  via: string;
  /**
   * Sets the scene (its events come before the mark); returns the change and a read of what it changes. `tag` is
   * the case's own, for names that must not meet another case's.
   */
  arrange: (tag: string) => Promise<{ change: () => Promise<unknown>; state: () => Promise<unknown> }>;
  before: unknown;
  after: unknown;
  /** Every event the change's transaction writes, when more than its own (in id order). */
  written?: string[];
};

/** Makes inserts of events of `type` fail until the returned undo. */
async function breakEvents(db: Database, type: string): Promise<() => Promise<void>> {
  await db.pool.query(
    `CREATE TRIGGER break_event AFTER INSERT ON fleet_event FOR EACH ROW EXECUTE FUNCTION break_event('${type}')`,
  );
  return async () => void (await db.pool.query(`DROP TRIGGER break_event ON fleet_event`));
}

async function lastEventId(db: Database): Promise<string> {
  const { rows } = await db.pool.query<{ id: string }>(`SELECT coalesce(max(id), 0)::text AS id FROM fleet_event`);
  return rows[0]!.id;
}

/** Every event written after `mark`, of any type, in id order. */
async function eventTypesAfter(db: Database, mark: string): Promise<string[]> {
  const { rows } = await db.pool.query<{ type: string }>(
    `SELECT type FROM fleet_event WHERE id > $1::bigint ORDER BY id`,
    [mark],
  );
  return rows.map((row) => row.type);
}

/** Registers the cases' tests, once per breakage, on the test file's database (`db()`, open by then). */
export function describeBothOrNeither(db: () => Database, cases: readonly AtomicityCase[]): void {
  beforeAll(async () => {
    // Refuses the row when its type is the trigger's argument (TG_ARGV[0]); other events go in.
    await db().pool.query(`
      CREATE FUNCTION break_event() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN IF NEW.type = TG_ARGV[0] THEN RAISE EXCEPTION 'refused for the test'; END IF; RETURN NEW; END $$`);
  });

  describe('events written with their change', () => {
    it.each(cases.map((c, n) => [c.type, c.via, c, n] as const))(
      '%s via %s: broken, no change and no event; unbroken, the change and exactly one',
      async (_type, _via, c, n) => {
        const { change, state } = await c.arrange(`run-${n}`);
        expect(await state()).toEqual(c.before);
        const mark = await lastEventId(db());
        const restore = await breakEvents(db(), c.type);
        try {
          await expect(change()).rejects.toThrow(/refused for the test/);
        } finally {
          await restore();
        }
        expect(await state()).toEqual(c.before);
        expect(await eventTypesAfter(db(), mark)).toEqual([]);
        await change();
        expect(await state()).toEqual(c.after);
        expect(await eventTypesAfter(db(), mark)).toEqual(c.written ?? [c.type]);
      },
    );
  });
}
