/**
 * Measurement 7 (a diagnostic beside the six): the install path's Postgres CPU per instance, alone, against
 * the least a durable record of a claim and its answer can cost.
 *
 * In the throughput runs Postgres shares two cores with everything else, so its CPU per instance moves with the
 * load. Here nothing else runs: one process drives the worker's own writer (createAttemptWriter, the same batch
 * statements, connections and settings as a worker) through rounds of `batch` claims plus the answers of the previous
 * round's claims, one group commit each, as a busy worker's batches look. The floor does the same rounds on a table
 * of its own with nothing but a primary key and one unique key: a row inserted per claim, that row updated per
 * answer, one statement and one commit per round, on a connection with the install path's planner settings (a plan
 * cached once, none made per round). The difference is what the product's guards, instance states,
 * per-state counters and indexes cost per instance. Runs alternate (ours, floor) and repeat; medians are shown.
 * CPU is read from /proc for the backends that ran the statements.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import {
  INSTALL_PATH_SESSION,
  createAttemptWriter,
  createDatabase,
  iterateRolloutInstances,
  recordRollout,
} from '@fleet/db';
import type { AttemptAnswer, Database } from '@fleet/db';
import { createTestDatabase } from '@fleet/testing';
import { processCpuSeconds } from './cpu.ts';

type InstallPathRow = {
  batch: number;
  /** Instances per run, after two warm-up rounds. */
  instances: number;
  /** Postgres CPU microseconds per instance (claim + answer), the median of the runs. */
  oursUs: number;
  floorUs: number;
  runs: { oursUs: number; floorUs: number }[];
};

export type InstallPathResult = { rows: InstallPathRow[] };

type Options = { batches: number[]; instances: number; rounds: number; log: (line: string) => void };

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor((values.length - 1) / 2)]!;

/** CPU seconds of the backends of `database` whose application_name is `name`. */
async function backendCpuSeconds(observer: pg.Client, database: string, name: string): Promise<number> {
  const { rows } = await observer.query<{ pid: number }>(
    `SELECT pid FROM pg_stat_activity WHERE datname = $1 AND application_name = $2`,
    [database, name],
  );
  let total = 0;
  for (const { pid } of rows) total += (await processCpuSeconds(pid)) ?? 0;
  return total;
}

const ANSWER: Omit<AttemptAnswer, 'finishedAt' | 'requestId'> = {
  durationMs: 50,
  httpStatus: 200,
  success: true,
  errorCode: null,
  errorMessage: null,
  outcome: 'success',
  outcomeKind: 'success',
};

/** Rounds of `batch` claims plus the previous round's answers through the worker's writer; CPU us per instance. */
async function runOurs(
  db: Database,
  observer: pg.Client,
  database: string,
  instances: number,
  batch: number,
): Promise<number> {
  const warmUp = 2 * batch;
  const ids = Array.from(
    { length: instances + warmUp },
    (_, i) => `i-bench${randomBytes(3).toString('hex')}${String(i).padStart(7, '0')}`,
  );
  const rollout = await recordRollout(db, {
    userId: '1234567898765432',
    force: true,
    concurrency: batch,
    maxAttempts: 3,
    policy: {},
    instanceIds: ids,
  });
  await observer.query(`UPDATE rollout SET status = 'running' WHERE id = $1::uuid`, [rollout.id]);
  const rowIds: bigint[] = [];
  for await (const page of iterateRolloutInstances(db, rollout.id, { pageSize: 5_000 }))
    for (const row of page) rowIds.push(row.id);
  // One batch in flight, as large as a round: each round is exactly one statement.
  const writer = createAttemptWriter(db, { maxConcurrentBatches: 1, maxBatch: 2 * batch });
  let previous: { id: bigint; attemptId: bigint; attemptNo: number }[] = [];
  let cpuAtStart = 0;
  for (let start = 0; start < rowIds.length; start += batch) {
    if (start === warmUp) cpuAtStart = await backendCpuSeconds(observer, database, 'bench:install-path');
    const chunk = rowIds.slice(start, start + batch);
    const claims = chunk.map((id) =>
      writer.claim({
        rolloutInstanceId: id,
        rolloutId: rollout.id,
        workerId: 'bench',
        signatureNonce: randomBytes(8).toString('hex'),
        staleAfterMs: 60_000,
      }),
    );
    const answers = previous.map((p) =>
      writer.finish({
        rolloutInstanceId: p.id,
        attemptId: p.attemptId,
        attemptNo: p.attemptNo,
        maxAttempts: 3,
        answer: { ...ANSWER, finishedAt: new Date(), requestId: randomBytes(8).toString('hex') },
        nextAttemptAt: null,
      }),
    );
    const [claimed, answered] = await Promise.all([Promise.all(claims), Promise.all(answers)]);
    for (const a of answered)
      if (a.kind !== 'transitioned') throw new Error(`install path bench: an answer was ${a.kind}`);
    previous = claimed.map((c, i) => {
      if (c.kind !== 'claimed') throw new Error(`install path bench: a claim was ${c.kind}`);
      return { id: chunk[i]!, attemptId: c.attemptId, attemptNo: c.attemptNo };
    });
  }
  const cpu = (await backendCpuSeconds(observer, database, 'bench:install-path')) - cpuAtStart;
  // The last round's claims are counted without their answers; the first measured round's answers belong to
  // warm-up claims: per instance, the two even out.
  return (cpu * 1e6) / instances;
}

/** The same rounds on a bare table: insert per claim, update of that row per answer, one statement per round. */
async function runFloor(
  client: pg.Client,
  observer: pg.Client,
  database: string,
  instances: number,
  batch: number,
): Promise<number> {
  const warmUp = 2 * batch;
  await client.query('DROP TABLE IF EXISTS bench_floor_attempt');
  await client.query(
    `CREATE TABLE bench_floor_attempt (id bigserial PRIMARY KEY, instance_id bigint NOT NULL, attempt_no int NOT NULL, started_at timestamptz NOT NULL,
       finished_at timestamptz, request_id text, UNIQUE (instance_id, attempt_no)) WITH (fillfactor = 70)`,
  );
  const statement = {
    name: 'bench_floor_round',
    text: `WITH claimed AS (INSERT INTO bench_floor_attempt (instance_id, attempt_no, started_at)
        SELECT i, 1, now() FROM unnest($1::bigint[]) AS i RETURNING id),
      answered AS (UPDATE bench_floor_attempt a SET finished_at = now(), request_id = r.request_id
        FROM unnest($2::bigint[], $3::text[]) AS r(instance_id, request_id)
        WHERE a.instance_id = ANY($2::bigint[]) AND a.attempt_no = 1 AND a.instance_id = r.instance_id RETURNING a.id)
      SELECT (SELECT count(*) FROM claimed) AS claimed, (SELECT count(*) FROM answered) AS answered`,
  };
  let previous: number[] = [];
  let cpuAtStart = 0;
  const total = instances + warmUp;
  for (let start = 0; start < total; start += batch) {
    if (start === warmUp) cpuAtStart = await backendCpuSeconds(observer, database, 'bench:floor');
    const chunk = Array.from({ length: Math.min(batch, total - start) }, (_, i) => start + i + 1);
    await client.query({ ...statement, values: [chunk, previous, previous.map(() => randomBytes(8).toString('hex'))] });
    previous = chunk;
  }
  const cpu = (await backendCpuSeconds(observer, database, 'bench:floor')) - cpuAtStart;
  await client.query('DROP TABLE bench_floor_attempt');
  return (cpu * 1e6) / instances;
}

export async function measureInstallPath(options: Options): Promise<InstallPathResult> {
  const created = await createTestDatabase();
  const { url, name: database } = created;
  const observer = new pg.Client({ connectionString: url });
  const floorClient = new pg.Client({
    connectionString: url,
    application_name: 'bench:floor',
    options: INSTALL_PATH_SESSION,
  });
  const db = createDatabase({ url, applicationName: 'bench', installPathPoolMax: 1 });
  try {
    await observer.connect();
    await floorClient.connect();
    const rows: InstallPathRow[] = [];
    for (const batch of options.batches) {
      const runs: InstallPathRow['runs'] = [];
      for (let round = 0; round < options.rounds; round++) {
        const oursUs = await runOurs(db, observer, database, options.instances, batch);
        const floorUs = await runFloor(floorClient, observer, database, options.instances, batch);
        runs.push({ oursUs, floorUs });
        options.log(
          `  batch ${batch}, round ${round + 1}: ours ${oursUs.toFixed(0)} us, floor ${floorUs.toFixed(0)} us of Postgres CPU per instance`,
        );
      }
      rows.push({
        batch,
        instances: options.instances,
        oursUs: median(runs.map((r) => r.oursUs)),
        floorUs: median(runs.map((r) => r.floorUs)),
        runs,
      });
    }
    return { rows };
  } finally {
    await db.close();
    await floorClient.end().catch(() => undefined);
    await observer.end().catch(() => undefined);
    await created.drop().catch(() => undefined);
  }
}
