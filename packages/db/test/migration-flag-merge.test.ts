/**
 * The migration manual_install_flag_per_host on a database that has the duplicates it was written for: one flag per
 * rollout instance, so a host failing in a rollout and its retries had several. The database is brought to the
 * migration before it (every earlier migration.sql, in order), filled with such flags, then migrated.
 */
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminDatabaseUrl, repoRoot } from '@fleet/testing';

const MIGRATION = '20261130000000_manual_install_flag_per_host';
const USER = '5555555555555555';
const OTHER_USER = '6666666666666666';

const migrationsDir = path.join(repoRoot(), 'prisma', 'migrations');
const migrationSql = (name: string) => readFileSync(path.join(migrationsDir, name, 'migration.sql'), 'utf8');
const earlier = readdirSync(migrationsDir)
  .filter((name) => /^\d{14}_/.test(name) && name < MIGRATION)
  .sort();

const name = `fleet_t_merge_${randomBytes(5).toString('hex')}`;
let client: pg.Client;

async function admin<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: adminDatabaseUrl() });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

beforeAll(async () => {
  await admin((c) => c.query(`CREATE DATABASE "${name}"`));
  const url = new URL(adminDatabaseUrl());
  url.pathname = `/${name}`;
  client = new pg.Client({ connectionString: url.toString() });
  await client.connect();
  // A query without parameters may hold many statements: each file goes as it is.
  for (const migration of earlier) await client.query(migrationSql(migration));
});

afterAll(async () => {
  await client?.end();
  await admin((c) => c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`));
});

async function rollout(userId: string, hosts: string[], parent: string | null = null) {
  const { rows } = await client.query<{ id: string }>(
    `INSERT INTO rollout (id, user_id, force, status, concurrency, max_attempts, policy, total_instances, parent_rollout_id)
     VALUES (gen_random_uuid(), $1, false, 'completed', 5, 2, '{}', $2, $3) RETURNING id::text`,
    [userId, hosts.length, parent],
  );
  const rolloutId = rows[0]!.id;
  const instances = await client.query<{ id: string; instance_id: string }>(
    `INSERT INTO rollout_instance (rollout_id, instance_id, state, needs_manual_install, manual_install_reason)
     SELECT $1::uuid, h, 'failed', true, 'no_server_guard_agent' FROM unnest($2::text[]) AS h RETURNING id::text, instance_id`,
    [rolloutId, hosts],
  );
  return { rolloutId, instanceRow: new Map(instances.rows.map((r) => [r.instance_id, r.id])) };
}

type OldFlag = {
  status: 'open' | 'acknowledged' | 'resolved' | 'closed';
  reason?: string;
  at: string;
  movedAt?: string;
  by?: string;
};

/** A flag as the previous release raised it (one per rollout instance), with its history. */
async function oldFlag(r: Awaited<ReturnType<typeof rollout>>, userId: string, host: string, flag: OldFlag) {
  const { rows } = await client.query<{ id: string }>(
    `INSERT INTO manual_install_flag (rollout_instance_id, rollout_id, user_id, instance_id, reason, detail, last_request_id,
       status, note, created_at, updated_at, acknowledged_at, acknowledged_by, resolved_at, resolved_by)
     VALUES ($1, $2::uuid, $3, $4, $5, $6, $7, $8::text::"ManualFlagStatus", $9, $10::timestamptz,
       coalesce($11::timestamptz, $10::timestamptz),
       CASE WHEN $8::text = 'acknowledged' THEN $11::timestamptz END, CASE WHEN $8::text = 'acknowledged' THEN $12::text END,
       CASE WHEN $8::text = 'resolved' THEN $11::timestamptz END, CASE WHEN $8::text = 'resolved' THEN $12::text END)
     RETURNING id::text`,
    [
      r.instanceRow.get(host),
      r.rolloutId,
      userId,
      host,
      flag.reason ?? 'no_server_guard_agent',
      `detail of ${r.rolloutId.slice(0, 8)}`,
      `R-${r.rolloutId.slice(0, 8)}`,
      flag.status,
      flag.by ? `note by ${flag.by}` : null,
      flag.at,
      flag.movedAt ?? null,
      flag.by ?? null,
    ],
  );
  const id = rows[0]!.id;
  await client.query(
    `INSERT INTO manual_install_flag_event (flag_id, at, action, actor) VALUES ($1, $2, 'flagged', 'reconciler')`,
    [id, flag.at],
  );
  if (flag.status !== 'open')
    await client.query(`INSERT INTO manual_install_flag_event (flag_id, at, action, actor) VALUES ($1, $2, $3, $4)`, [
      id,
      flag.movedAt,
      flag.status,
      flag.by,
    ]);
  return id;
}

const flagsOf = async (userId: string, host: string) =>
  (
    await client.query<{
      id: string;
      status: string;
      rollout_id: string;
      rollout_instance_id: string;
      reason: string;
      detail: string;
      last_request_id: string;
      note: string | null;
      acknowledged_by: string | null;
      resolved_by: string | null;
      created_at: Date;
    }>(
      `SELECT id::text, status::text, rollout_id::text, rollout_instance_id::text, reason, detail, last_request_id, note,
              acknowledged_by, resolved_by, created_at
       FROM manual_install_flag WHERE user_id = $1 AND instance_id = $2 ORDER BY id`,
      [userId, host],
    )
  ).rows;
const historyOf = async (flagId: string) =>
  (
    await client.query<{ action: string; actor: string | null; detail: unknown }>(
      `SELECT action, actor, detail FROM manual_install_flag_event WHERE flag_id = $1 ORDER BY id`,
      [flagId],
    )
  ).rows;
const occurrencesOf = async (flagId: string) =>
  (
    await client.query<{ rollout_id: string; rollout_instance_id: string }>(
      `SELECT rollout_id::text, rollout_instance_id::text FROM manual_install_flag_occurrence WHERE flag_id = $1
       ORDER BY at, rollout_instance_id`,
      [flagId],
    )
  ).rows;

describe(`migration ${MIGRATION}`, () => {
  it("merges each host's flags that are not closed into its oldest, furthest along, with every history entry", async () => {
    expect(earlier.length).toBeGreaterThan(0);
    const original = await rollout(USER, ['i-m1', 'i-m2', 'i-m3', 'i-m4']);
    const retry1 = await rollout(USER, ['i-m1', 'i-m2', 'i-m4'], original.rolloutId);
    const retry2 = await rollout(USER, ['i-m1', 'i-m2'], retry1.rolloutId);
    const elsewhere = await rollout(OTHER_USER, ['i-m1']);

    // i-m1: open, then acknowledged by ann in the first retry, then open again in the second.
    const m1 = [
      await oldFlag(original, USER, 'i-m1', { status: 'open', at: '2026-01-01T00:00:00Z' }),
      await oldFlag(retry1, USER, 'i-m1', {
        status: 'acknowledged',
        at: '2026-01-02T00:00:00Z',
        movedAt: '2026-01-02T01:00:00Z',
        by: 'ann',
      }),
      await oldFlag(retry2, USER, 'i-m1', { status: 'open', reason: 'retries_exhausted', at: '2026-01-03T00:00:00Z' }),
    ];
    // i-m2: resolved by bob in the original rollout (his resolve left the retries' duplicates open).
    const m2 = [
      await oldFlag(original, USER, 'i-m2', {
        status: 'resolved',
        at: '2026-01-01T00:00:00Z',
        movedAt: '2026-01-04T00:00:00Z',
        by: 'bob',
      }),
      await oldFlag(retry1, USER, 'i-m2', {
        status: 'acknowledged',
        at: '2026-01-02T00:00:00Z',
        movedAt: '2026-01-02T02:00:00Z',
        by: 'ann',
      }),
      await oldFlag(retry2, USER, 'i-m2', { status: 'open', at: '2026-01-03T00:00:00Z' }),
    ];
    // i-m3: one flag, nothing to merge. i-m4: closed in the original, open in the retry: the closed one is history.
    const m3 = await oldFlag(original, USER, 'i-m3', { status: 'open', at: '2026-01-01T00:00:00Z' });
    const m4closed = await oldFlag(original, USER, 'i-m4', {
      status: 'closed',
      at: '2026-01-01T00:00:00Z',
      movedAt: '2026-01-01T05:00:00Z',
      by: 'ann',
    });
    const m4open = await oldFlag(retry1, USER, 'i-m4', { status: 'open', at: '2026-01-02T00:00:00Z' });
    // The same instance id in another account is another host.
    const other = await oldFlag(elsewhere, OTHER_USER, 'i-m1', { status: 'open', at: '2026-01-05T00:00:00Z' });

    await client.query(migrationSql(MIGRATION));

    const [merged1, ...rest1] = await flagsOf(USER, 'i-m1');
    expect(rest1).toEqual([]);
    expect(merged1).toMatchObject({
      id: m1[0],
      status: 'acknowledged',
      acknowledged_by: 'ann',
      note: 'note by ann',
      // The newest failure's.
      rollout_id: retry2.rolloutId,
      rollout_instance_id: retry2.instanceRow.get('i-m1'),
      reason: 'retries_exhausted',
      detail: `detail of ${retry2.rolloutId.slice(0, 8)}`,
      last_request_id: `R-${retry2.rolloutId.slice(0, 8)}`,
    });
    expect(merged1!.created_at.toISOString()).toBe('2026-01-01T00:00:00.000Z');
    expect((await historyOf(m1[0]!)).map((e) => [e.action, e.actor])).toEqual([
      ['flagged', 'reconciler'],
      ['flagged', 'reconciler'],
      ['acknowledged', 'ann'],
      ['flagged', 'reconciler'],
      ['merged', 'migration'],
    ]);
    expect((await historyOf(m1[0]!)).at(-1)!.detail).toEqual({
      mergedFlagIds: [m1[1], m1[2]],
      status: 'acknowledged',
    });
    expect(await occurrencesOf(m1[0]!)).toEqual(
      [original, retry1, retry2].map((r) => ({
        rollout_id: r.rolloutId,
        rollout_instance_id: r.instanceRow.get('i-m1'),
      })),
    );

    const [merged2, ...rest2] = await flagsOf(USER, 'i-m2');
    expect(rest2).toEqual([]);
    expect(merged2).toMatchObject({ id: m2[0], status: 'resolved', resolved_by: 'bob', rollout_id: retry2.rolloutId });
    expect((await historyOf(m2[0]!)).map((e) => e.action)).toEqual([
      'flagged',
      'resolved',
      'flagged',
      'acknowledged',
      'flagged',
      'merged',
    ]);
    expect(await occurrencesOf(m2[0]!)).toHaveLength(3);

    expect((await flagsOf(USER, 'i-m3')).map((f) => [f.id, f.status])).toEqual([[m3, 'open']]);
    expect((await historyOf(m3)).map((e) => e.action)).toEqual(['flagged']);
    expect((await flagsOf(USER, 'i-m4')).map((f) => [f.id, f.status])).toEqual([
      [m4closed, 'closed'],
      [m4open, 'open'],
    ]);
    expect((await flagsOf(OTHER_USER, 'i-m1')).map((f) => [f.id, f.status])).toEqual([[other, 'open']]);
    expect(await occurrencesOf(other)).toEqual([
      { rollout_id: elsewhere.rolloutId, rollout_instance_id: elsewhere.instanceRow.get('i-m1') },
    ]);

    // Nothing points at a deleted flag, and no two current flags share a host any more: the index stands.
    const { rows: orphans } = await client.query(
      `SELECT 1 FROM manual_install_flag_event e WHERE NOT EXISTS (SELECT 1 FROM manual_install_flag f WHERE f.id = e.flag_id)`,
    );
    expect(orphans).toEqual([]);
    await expect(
      client.query(
        `INSERT INTO manual_install_flag (rollout_instance_id, rollout_id, user_id, instance_id, reason)
         VALUES (999999, $1::uuid, $2, 'i-m3', 'rejected')`,
        [original.rolloutId, USER],
      ),
    ).rejects.toThrow(/manual_install_flag_open_per_host_key/);
  });
});
