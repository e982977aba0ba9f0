/**
 * The migration rollout_failure_counts on a database filled before it: the database is brought to the migration
 * before it (every earlier migration.sql, in order), filled with rollouts whose instances failed in many ways, then
 * migrated. The counts it backfills must be what grouping the rows by failureCauseOf (packages/rollout-domain) gives,
 * and the triggers must keep them so as the rows move. fleet_failure_cause, the SQL twin of failureCauseOf, is
 * compared with it on messages of every shape the normalisation handles.
 */
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { failureCauseOf } from '@fleet/rollout-domain';
import { adminDatabaseUrl, repoRoot } from '@fleet/testing';

const MIGRATION = '20261202033000_rollout_failure_counts';

const migrationsDir = path.join(repoRoot(), 'prisma', 'migrations');
const migrationSql = (name: string) => readFileSync(path.join(migrationsDir, name, 'migration.sql'), 'utf8');
const earlier = readdirSync(migrationsDir)
  .filter((name) => /^\d{14}_/.test(name) && name < MIGRATION)
  .sort();

const name = `fleet_t_fcount_${randomBytes(5).toString('hex')}`;
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

/** Messages of every shape normaliseErrorMessage has a rule for, and some it has none for. */
const MESSAGES: (string | null)[] = [
  'The specified instance i-bp1h4adlltjc1d48goaq does not exist.',
  'Request 0F6E2D1C-8A4B-4C3D-9E8F-1A2B3C4D5E6F failed after 3 tries at 2026-01-01T00:00:00.123Z',
  'The parameter InstanceId is invalid: "i-x,y" is not an ECS instance id (i-...).',
  "quoted 'single' and `back` values, 'unterminated",
  'no complete response within 10000 ms',
  'version 1.5x and 2.25 and x1.5 and 3.',
  'multi-region   setup\n failed\tagain\u00a0here ',
  'ids i-abc_def i-ABC i-abc. and ai-abc and i-',
  'time 2026-01-01T00:00:00Z. then 2026-13-99T1:2 and 12:30:00',
  'uuid 0f6e2d1c-8a4b-4c3d-9e8f-1a2b3c4d5e6fx and x0f6e2d1c-8a4b-4c3d-9e8f-1a2b3c4d5e6f',
  'Throttling.User: Request was denied due to user flow control.',
  'x'.repeat(1000),
  `${'word '.repeat(80)} 123`,
  '   ',
  '',
  null,
];

type Row = {
  state: 'pending' | 'in_progress' | 'succeeded' | 'failed' | 'cancelled';
  code?: string | null;
  message?: string | null;
  reason?: string | null;
  outcome?: string | null;
  verification?: string | null;
  agent?: string | null;
};

async function rollout(rows: Row[]): Promise<string> {
  const { rows: made } = await client.query<{ id: string }>(
    `INSERT INTO rollout (id, user_id, force, status, concurrency, max_attempts, policy, total_instances)
     VALUES (gen_random_uuid(), '7777777777777777', false, 'completed', 5, 2, '{}', $1) RETURNING id::text`,
    [rows.length],
  );
  const id = made[0]!.id;
  await client.query(
    `INSERT INTO rollout_instance (rollout_id, instance_id, state, last_error_code, last_error_message,
       manual_install_reason, last_outcome, verification, agent_status)
     SELECT $1::uuid, 'i-host' || n, (r->>'state')::"InstanceState", r->>'code', r->>'message', r->>'reason',
       r->>'outcome', r->>'verification', r->>'agent'
     FROM json_array_elements($2::json) WITH ORDINALITY AS e(r, n)`,
    [id, JSON.stringify(rows)],
  );
  return id;
}

/** What the counts must be: the rows grouped by failureCauseOf, reason and outcome ('' for none). */
async function expectedCounts(rolloutId: string) {
  const { rows } = await client.query<{
    state: string;
    last_error_code: string | null;
    last_error_message: string | null;
    verification: string | null;
    agent_status: string | null;
    manual_install_reason: string | null;
    last_outcome: string | null;
  }>(
    `SELECT state::text AS state, last_error_code, last_error_message, verification, agent_status, manual_install_reason,
       last_outcome FROM rollout_instance WHERE rollout_id = $1::uuid`,
    [rolloutId],
  );
  const failures = new Map<string, number>();
  const verifications = new Map<string, number>();
  for (const row of rows) {
    if (row.state === 'succeeded')
      verifications.set(row.verification ?? '', (verifications.get(row.verification ?? '') ?? 0) + 1);
    if (row.state !== 'failed' && !(row.state === 'succeeded' && row.verification === 'failed')) continue;
    const { cause } = failureCauseOf({
      state: row.state,
      lastErrorCode: row.last_error_code,
      lastErrorMessage: row.last_error_message,
      verification: row.verification,
      agentStatus: row.agent_status,
      manualInstallReason: row.manual_install_reason,
    });
    const key = JSON.stringify([cause, row.manual_install_reason ?? '', row.last_outcome ?? '']);
    failures.set(key, (failures.get(key) ?? 0) + 1);
  }
  return { failures: Object.fromEntries(failures), verifications: Object.fromEntries(verifications) };
}

async function keptCounts(rolloutId: string) {
  const failures = await client.query<{
    cause: string;
    manual_install_reason: string;
    last_outcome: string;
    n: number;
  }>(
    `SELECT cause, manual_install_reason, last_outcome, n FROM rollout_failure_count WHERE rollout_id = $1::uuid AND n <> 0`,
    [rolloutId],
  );
  const verifications = await client.query<{ verification: string; n: number }>(
    `SELECT verification, n FROM rollout_verification_count WHERE rollout_id = $1::uuid AND n <> 0`,
    [rolloutId],
  );
  return {
    failures: Object.fromEntries(
      failures.rows.map((r) => [JSON.stringify([r.cause, r.manual_install_reason, r.last_outcome]), r.n]),
    ),
    verifications: Object.fromEntries(verifications.rows.map((r) => [r.verification, r.n])),
  };
}

const installFailures: Row[] = MESSAGES.flatMap((message, i) => [
  { state: 'failed', code: i % 3 === 0 ? null : 'InvalidInstanceId.NotFound', message, outcome: 'final' },
  { state: 'failed', code: 'InvalidInstanceId.NotFound', message, reason: 'instance_not_found', outcome: 'final' },
]);
const verificationFailures: Row[] = [
  { state: 'succeeded', verification: 'failed', agent: 'install_faild', reason: 'install_failed_on_host' },
  { state: 'succeeded', verification: 'failed', agent: 'stopped', reason: 'agent_not_running' },
  { state: 'succeeded', verification: 'failed', agent: null, reason: 'agent_not_running' },
  { state: 'succeeded', verification: 'failed', agent: null, reason: 'instance_not_found' },
  { state: 'succeeded', verification: 'failed', agent: 'x', reason: null },
];
const others: Row[] = [
  { state: 'succeeded', verification: 'verified' },
  { state: 'succeeded', verification: 'pending' },
  { state: 'succeeded' },
  { state: 'pending' },
  { state: 'in_progress' },
  { state: 'cancelled', code: 'Cancelled', message: 'cancelled by an operator' },
];

let filled: string[] = [];

beforeAll(async () => {
  await admin((c) => c.query(`CREATE DATABASE "${name}"`));
  const url = new URL(adminDatabaseUrl());
  url.pathname = `/${name}`;
  client = new pg.Client({ connectionString: url.toString() });
  await client.connect();
  for (const migration of earlier) await client.query(migrationSql(migration));
  filled = [
    await rollout([...installFailures, ...verificationFailures, ...others]),
    await rollout([...verificationFailures, ...others, ...installFailures.slice(0, 6)]),
    await rollout(others),
  ];
  await client.query(migrationSql(MIGRATION));
});

afterAll(async () => {
  await client?.end();
  await admin((c) => c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`));
});

describe(`migration ${MIGRATION}`, () => {
  it('backfills the failure and verification counts of rollouts filled before it, as failureCauseOf groups the rows', async () => {
    for (const id of filled) expect(await keptCounts(id)).toEqual(await expectedCounts(id));
    const first = await keptCounts(filled[0]!);
    // Not a vacuous comparison: the first rollout has many causes and every verification outcome.
    expect(Object.keys(first.failures).length).toBeGreaterThan(15);
    expect(first.verifications).toEqual({ failed: 5, verified: 1, pending: 1, '': 1 });
    expect(await keptCounts(filled[2]!)).toEqual({ failures: {}, verifications: { verified: 1, pending: 1, '': 1 } });
  });

  it('keeps the counts equal to the rows through failures, reverifications, flags and deletes', async () => {
    const id = filled[1]!;
    // A pending instance fails, an in_progress one succeeds, a failed verification is reverified, a failed install
    // gets a new agent status (no cause change), and a failure is deleted.
    await client.query(
      `UPDATE rollout_instance SET state = 'failed', last_error_code = 'Boom', last_error_message = 'boom 42', last_outcome = 'final'
       WHERE rollout_id = $1::uuid AND state = 'pending'`,
      [id],
    );
    await client.query(
      `UPDATE rollout_instance SET state = 'succeeded', verification = 'pending'
       WHERE rollout_id = $1::uuid AND state = 'in_progress'`,
      [id],
    );
    await client.query(
      `UPDATE rollout_instance SET verification = 'verified', agent_status = 'running'
       WHERE rollout_id = $1::uuid AND verification = 'failed' AND manual_install_reason = 'agent_not_running'`,
      [id],
    );
    await client.query(
      `UPDATE rollout_instance SET agent_status = 'gone' WHERE rollout_id = $1::uuid AND state = 'failed'`,
      [id],
    );
    await client.query(
      `DELETE FROM rollout_instance WHERE id = (SELECT max(id) FROM rollout_instance WHERE rollout_id = $1::uuid AND state = 'failed')`,
      [id],
    );
    const kept = await keptCounts(id);
    expect(kept).toEqual(await expectedCounts(id));
    expect(kept.failures[JSON.stringify(['Boom: boom <n>', '', 'final'])]).toBe(1);
    expect(kept.verifications).toMatchObject({ verified: 3, pending: 2 });
  });

  it('computes the cause as failureCauseOf does, for install failures and failed verifications alike', async () => {
    const cases = [
      ...MESSAGES.map((message) => ({ state: 'failed', code: 'Code.X', message, agent: null, reason: null })),
      ...verificationFailures.map((r) => ({
        state: 'succeeded',
        code: null,
        message: null,
        agent: r.agent,
        reason: r.reason,
      })),
    ];
    const { rows } = await client.query<{ cause: string }>(
      `SELECT fleet_failure_cause(c->>'state' = 'failed', c->>'code', c->>'message', c->>'agent', c->>'reason') AS cause
       FROM json_array_elements($1::json) WITH ORDINALITY AS e(c, n) ORDER BY n`,
      [JSON.stringify(cases)],
    );
    expect(rows.map((r) => r.cause)).toEqual(
      cases.map(
        (c) =>
          failureCauseOf({
            state: c.state,
            lastErrorCode: c.code,
            lastErrorMessage: c.message ?? null,
            verification: c.state === 'succeeded' ? 'failed' : null,
            agentStatus: c.agent ?? null,
            manualInstallReason: c.reason ?? null,
          }).cause,
      ),
    );
  });

  it('deletes a rollout with its counts', async () => {
    const id = await rollout(installFailures.slice(0, 4));
    expect(Object.keys((await keptCounts(id)).failures).length).toBeGreaterThan(0);
    await client.query(`DELETE FROM rollout WHERE id = $1::uuid`, [id]);
    const { rows } = await client.query(`SELECT 1 FROM rollout_failure_count WHERE rollout_id = $1::uuid`, [id]);
    expect(rows).toEqual([]);
  });
});
