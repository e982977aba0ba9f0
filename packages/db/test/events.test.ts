import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { waitFor } from '@fleet/testing';
import { useTestDatabase } from './support.ts';
import {
  DIRECT_WRITER,
  createDatabase,
  FLEET_EVENTS_CHANNEL,
  completeRolloutIfDone,
  ensureBootstrapAdminKey,
  generateApiKey,
  insertRollout,
  listEvents,
  transitionRollout,
} from '../src/index.ts';
import type { Database, FleetEventNotice } from '../src/index.ts';
import { FLEET_EVENT_LOCK, recordEventsWithClient } from '../src/events/record-events.ts';
import type { EventSource, NewFleetEvent } from '@fleet/rollout-domain';

let db: Database;
let url: string;
useTestDatabase({ poolMax: 6 }, (opened) => {
  db = opened;
  url = (opened.pool.options as { connectionString: string }).connectionString;
});

const USER = '1234567898765432';
const OPERATOR: EventSource = {
  actor: { kind: 'api_key', id: '00000000-0000-4000-8000-00000000000a', name: 'on-call' },
  requestId: 'req-1',
};

const newRollout = (instanceIds: string[]) =>
  insertRollout(db, { userId: USER, force: false, concurrency: 2, maxAttempts: 1, policy: {}, instanceIds });

const resumedEvent = (rolloutId: string): NewFleetEvent => ({
  type: 'rollout.resumed',
  rolloutId,
  userId: USER,
  data: { wave: 1, reason: null },
});

async function connect(): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  return client;
}

/** What the backend `pid` waits on now (pg_stat_activity), e.g. "Lock:advisory"; null when it waits on nothing. */
async function waitingOn(pid: number): Promise<string | null> {
  const { rows } = await db.pool.query<{ w: string | null }>(
    `SELECT wait_event_type || ':' || wait_event AS w FROM pg_stat_activity WHERE pid = $1 AND state = 'active'`,
    [pid],
  );
  return rows[0]?.w ?? null;
}

describe('listEvents order', () => {
  it('is by id as a number across a change of digit count (9 before 10, 99 before 100), never as text', async () => {
    const { rollout } = await newRollout(['i-order-1']);
    // Ids to either side of the next power of ten, wherever the sequence is now.
    const { rows } = await db.pool.query<{ last: string }>(
      `SELECT coalesce(max(id), 0)::text AS last FROM fleet_event`,
    );
    const next = 10 ** String(BigInt(rows[0]!.last) + 1n).length;
    await db.pool.query(`SELECT setval(pg_get_serial_sequence('fleet_event', 'id'), $1)`, [next - 2]);
    const client = await connect();
    try {
      for (let i = 0; i < 3; i++) await recordEventsWithClient(client, OPERATOR, [resumedEvent(rollout.id)]);
    } finally {
      await client.end();
    }
    const page = await listEvents(db, { rolloutId: rollout.id, limit: 10 });
    const ids = page.events.map((event) => BigInt(event.id));
    expect(ids.slice(-3).map(String)).toEqual([next - 1, next, next + 1].map(String));
    expect(ids).toEqual([...ids].sort((a, b) => (a < b ? -1 : 1)));
  });
});

describe('fleet events: ids in commit order', () => {
  it('a second writer takes its id only after the first commits, so a reader that saw id N never later sees a smaller one', async () => {
    const { rollout } = await newRollout(['i-order']);
    const first = await connect();
    const second = await connect();
    try {
      await first.query('BEGIN');
      const [firstId] = await recordEventsWithClient(first, OPERATOR, [resumedEvent(rollout.id)]);
      await second.query('BEGIN');
      const secondPid = (await second.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
      const secondInsert = recordEventsWithClient(second, OPERATOR, [resumedEvent(rollout.id)]);
      // Without the lock the second insert would take the next id at once and could commit before the first.
      await waitFor('the second writer to wait for the events lock', async () =>
        (await waitingOn(secondPid)) === 'Lock:advisory' ? true : null,
      );
      expect((await listEvents(db, { rolloutId: rollout.id, type: 'rollout.resumed', limit: 10 })).events).toEqual([]);
      await first.query('COMMIT');
      const [secondId] = await secondInsert;
      expect(secondId! > firstId!).toBe(true);
      const seen = await listEvents(db, { rolloutId: rollout.id, type: 'rollout.resumed', limit: 10 });
      expect(seen.events.map((e) => e.id)).toEqual([firstId]);
      await second.query('COMMIT');
      const after = await listEvents(db, { rolloutId: rollout.id, after: firstId!, limit: 10 });
      expect(after.events.map((e) => e.id)).toEqual([secondId]);
    } finally {
      await first.end();
      await second.end();
    }
  });

  it('a writer that rolls back leaves a gap, never a late event, and releases the lock', async () => {
    const { rollout } = await newRollout(['i-gap']);
    const first = await connect();
    try {
      await first.query('BEGIN');
      const [lost] = await recordEventsWithClient(first, OPERATOR, [resumedEvent(rollout.id)]);
      await first.query('ROLLBACK');
      await first.query('BEGIN');
      const [kept] = await recordEventsWithClient(first, OPERATOR, [resumedEvent(rollout.id)]);
      await first.query('COMMIT');
      expect(kept! > lost!).toBe(true);
      const resumed = await listEvents(db, { rolloutId: rollout.id, type: 'rollout.resumed', limit: 10 });
      expect(resumed.events.map((e) => e.id)).toEqual([kept]);
    } finally {
      await first.end();
    }
  });

  it('announces each commit on fleet_events with its id and rollout, and says nothing for a rollback', async () => {
    const { rollout } = await newRollout(['i-notify']);
    const listener = await connect();
    const writer = await connect();
    const notices: FleetEventNotice[] = [];
    listener.on('notification', (n) => {
      if (n.channel === FLEET_EVENTS_CHANNEL) notices.push(JSON.parse(n.payload!) as FleetEventNotice);
    });
    try {
      await listener.query(`LISTEN ${FLEET_EVENTS_CHANNEL}`);
      await writer.query('BEGIN');
      await recordEventsWithClient(writer, OPERATOR, [resumedEvent(rollout.id)]);
      await writer.query('ROLLBACK');
      await writer.query('BEGIN');
      const ids = await recordEventsWithClient(writer, OPERATOR, [resumedEvent(rollout.id), resumedEvent(rollout.id)]);
      await writer.query('COMMIT');
      await waitFor('the notice', () => notices.length > 0);
      // One notice per rollout per commit, naming the commit's highest id.
      expect(notices).toEqual([{ id: ids[1]!.toString(), rolloutId: rollout.id }]);
    } finally {
      await listener.end();
      await writer.end();
    }
  });
});

/**
 * Makes any statement that writes an event of `rolloutId` fail (`fail_statement`: an AFTER INSERT trigger, so the
 * change's statements have run and the event's insert fails), or the commit of its transaction (`fail_commit`: a
 * deferred constraint trigger, run at COMMIT). Returns the undo.
 */
async function breakEventsOf(rolloutId: string, how: 'fail_statement' | 'fail_commit'): Promise<() => Promise<void>> {
  const name = `break_${how}_${rolloutId.replaceAll('-', '')}`;
  await db.pool.query(`
    CREATE FUNCTION ${name}() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN IF NEW.rollout_id = '${rolloutId}'::uuid THEN RAISE EXCEPTION 'refused for the test'; END IF; RETURN NEW; END $$`);
  await db.pool.query(
    how === 'fail_commit'
      ? `CREATE CONSTRAINT TRIGGER ${name} AFTER INSERT ON fleet_event DEFERRABLE INITIALLY DEFERRED
         FOR EACH ROW EXECUTE FUNCTION ${name}()`
      : `CREATE TRIGGER ${name} AFTER INSERT ON fleet_event FOR EACH ROW EXECUTE FUNCTION ${name}()`,
  );
  return async () => {
    await db.pool.query(`DROP TRIGGER ${name} ON fleet_event`);
    await db.pool.query(`DROP FUNCTION ${name}()`);
  };
}

async function statusAndEvents(rolloutId: string) {
  const { status } = await db.prisma.rollout.findUniqueOrThrow({ where: { id: rolloutId } });
  const { events } = await listEvents(db, { rolloutId, limit: 10 });
  return { status, types: events.map((e) => e.type) };
}

describe('fleet events: written with the change, both or neither', () => {
  it('a pause whose event cannot be written leaves the rollout running and no event; unbroken, exactly one', async () => {
    const { rollout } = await newRollout(['i-fail-statement']);
    const restore = await breakEventsOf(rollout.id, 'fail_statement');
    try {
      const failure = await transitionRollout(db, rollout.id, { type: 'pause', reason: 'x' }, { by: OPERATOR }).catch(
        (e: unknown) => e,
      );
      expect(String(failure)).toMatch(/refused for the test/);
    } finally {
      await restore();
    }
    expect(await statusAndEvents(rollout.id)).toEqual({ status: 'running', types: ['rollout.created'] });
    expect((await transitionRollout(db, rollout.id, { type: 'pause', reason: 'x' }, { by: OPERATOR })).kind).toBe(
      'changed',
    );
    const events = (await listEvents(db, { rolloutId: rollout.id, type: 'rollout.paused', limit: 10 })).events;
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ actor: OPERATOR.actor, requestId: 'req-1', userId: USER });
  });

  it('a writer killed between its change and its event (waiting for the events lock) leaves neither', async () => {
    const { rollout } = await newRollout(['i-killed']);
    // The writer's own connections: Prisma's pg adapter never gives back a connection that died inside a transaction,
    // so this pool cannot end cleanly afterwards and is left to be collected.
    const writer = createDatabase({ url, poolMax: 2 });
    const holder = await connect();
    try {
      await holder.query('BEGIN');
      await holder.query(`SELECT pg_advisory_xact_lock(${FLEET_EVENT_LOCK}::bigint)`);
      const cancel = transitionRollout(writer, rollout.id, { type: 'cancel', reason: 'x' }, { by: OPERATOR }).catch(
        (e: unknown) => e,
      );
      const pid = await waitFor('the writer to wait for the events lock, its change made', async () => {
        const { rows } = await db.pool.query<{ pid: number }>(
          `SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND wait_event = 'advisory'
             AND datname = current_database()`,
        );
        return rows[0]?.pid ?? null;
      });
      // The change is made but not committed: the rollout's row is locked by the writer.
      await holder.query('SELECT pg_terminate_backend($1)', [pid]);
      expect(await cancel).toBeInstanceOf(Error);
      await holder.query('ROLLBACK');
    } finally {
      await holder.end();
      void writer.close().catch(() => undefined);
    }
    expect(await statusAndEvents(rollout.id)).toEqual({ status: 'running', types: ['rollout.created'] });
    const instances = await db.prisma.rolloutInstance.findMany({ where: { rolloutId: rollout.id } });
    expect(instances.map((i) => i.state)).toEqual(['pending']);
  });

  it('completion in one statement: a commit that fails leaves the rollout open and no rollout.completed', async () => {
    const { rollout } = await newRollout(['i-complete']);
    await db.pool.query(`UPDATE rollout_instance SET state = 'succeeded' WHERE rollout_id = $1::uuid`, [rollout.id]);
    const restore = await breakEventsOf(rollout.id, 'fail_commit');
    try {
      await expect(completeRolloutIfDone(db, rollout.id, DIRECT_WRITER)).rejects.toThrow(/refused for the test/);
    } finally {
      await restore();
    }
    expect((await db.prisma.rollout.findUniqueOrThrow({ where: { id: rollout.id } })).status).toBe('running');
    expect(await completeRolloutIfDone(db, rollout.id, DIRECT_WRITER)).toBe(true);
    expect(await completeRolloutIfDone(db, rollout.id, DIRECT_WRITER)).toBe(false);
    const completed = (await listEvents(db, { rolloutId: rollout.id, type: 'rollout.completed', limit: 10 })).events;
    expect(completed).toHaveLength(1);
    expect(completed[0]!.data).toEqual({ counts: { succeeded: 1 } });
  });
});

describe('listEvents', () => {
  it('pages oldest first with a cursor, and filters by account visibility, actor and type', async () => {
    const { rollout } = await newRollout(['i-page']);
    const OPERATOR: EventSource = { actor: { kind: 'api_key', id: 'lister', name: 'lister' } };
    const client = await connect();
    try {
      await client.query('BEGIN');
      await recordEventsWithClient(client, OPERATOR, [resumedEvent(rollout.id), resumedEvent(rollout.id)]);
      await recordEventsWithClient(client, OPERATOR, [
        {
          type: 'api_key.created',
          rolloutId: null,
          userId: null,
          data: { keyId: 'k', name: 'n', role: 'viewer', userIds: [USER, 'other'], allAccounts: false },
        },
      ]);
      await client.query('COMMIT');
    } finally {
      await client.end();
    }
    const first = await listEvents(db, { rolloutId: rollout.id, limit: 2 });
    expect(first.events.map((e) => e.type)).toEqual(['rollout.created', 'rollout.resumed']);
    const second = await listEvents(db, { rolloutId: rollout.id, after: first.nextCursor!, limit: 2 });
    expect(second.events.map((e) => e.type)).toEqual(['rollout.resumed']);
    expect(second.nextCursor).toBeNull();

    const byOperator = await listEvents(db, { actorId: OPERATOR.actor.id, limit: 10 });
    expect(byOperator.events.map((e) => e.type)).toEqual(['rollout.resumed', 'rollout.resumed', 'api_key.created']);
    // A key bound to USER and another account is seen by a reader of both, not by a reader of USER alone.
    const onlyUser = await listEvents(db, { actorId: OPERATOR.actor.id, userIds: [USER], limit: 10 });
    expect(onlyUser.events.map((e) => e.type)).toEqual(['rollout.resumed', 'rollout.resumed']);
    const both = await listEvents(db, { actorId: OPERATOR.actor.id, userIds: [USER, 'other'], limit: 10 });
    expect(both.events).toHaveLength(3);
    const otherAccount = await listEvents(db, { userId: 'other', limit: 10 });
    expect(otherAccount.events.map((e) => e.type)).toEqual(['api_key.created']);
    expect((await listEvents(db, { userIds: ['nobody'], limit: 10 })).events).toEqual([]);
  });
});

describe('API key events', () => {
  it('the bootstrap admin key is created with one api_key.created by the system, and a restart writes none', async () => {
    const key = generateApiKey();
    const first = await ensureBootstrapAdminKey(db, key);
    const again = await ensureBootstrapAdminKey(db, key);
    expect([first.created, again.created]).toEqual([true, false]);
    const created = (await listEvents(db, { type: 'api_key.created', limit: 1000 })).events.filter(
      (e) => (e.data as { keyId: string }).keyId === first.record.id,
    );
    expect(created).toHaveLength(1);
    expect(created[0]).toMatchObject({
      actor: { kind: 'system', id: 'bootstrap' },
      data: { role: 'admin', allAccounts: true, userIds: [] },
    });
    expect(JSON.stringify(created[0]!.data)).not.toContain(key);
  });
});
