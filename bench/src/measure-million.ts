/**
 * `--only million` (issue 23): a million instances, as ten rollouts of 100,000 (the API's MAX_INSTANCES_PER_ROLLOUT)
 * run at once across 10 worker processes against the simulator at L = 5 ms, failure rate 0. Reports the time and
 * instances per second from the first POST to the last rollout's completion, the API's and the workers' peak RSS,
 * Redis's peak memory over the run (sampled, above what it held before), the database's size per instance (tables,
 * indexes, TOAST), whether every instance has exactly one attempt, and status p50/p99 of one finished rollout at the
 * end. Then the same database after attempt retention has summarised every rollout (VACUUM FULL first, both times):
 * what an old rollout costs to keep. Nothing is asserted.
 */
import { performance } from 'node:perf_hooks';
import { createDatabase, summariseOldAttempts } from '@fleet/db';
import type { Redis } from 'ioredis';
import { instanceIdsFor } from './baselines/baseline-env.ts';
import { createRollout, getRollout, limitFacts, prepareSimulator, simStats, waitForRolloutDone } from './clients.ts';
import type { MemoryTrace } from './processes.ts';
import { traceMemory } from './processes.ts';
import type { BenchStack } from './stack.ts';

export type MillionOptions = {
  rollouts: number;
  instancesPerRollout: number;
  /** Each rollout's concurrency. */
  concurrency: number;
  latencyMs: number;
  timeoutMs: number;
  statusSamples: number;
  log: (line: string) => void;
};

type Sizes = { databaseBytes: number; byTable: Record<string, number> };

export type MillionResult = {
  rollouts: number;
  instances: number;
  workers: number;
  concurrencyPerRollout: number;
  latencyMs: number;
  seconds: number;
  instancesPerSecond: number;
  /** Longest POST to 202 of the ten. */
  maxMsTo202: number;
  apiPeakRssBytes: number;
  workerPeakRssBytes: number[];
  redisPeakAboveStartBytes: number;
  /** Memory samples that failed (skipped). */
  redisFailedSamples: number;
  attempts: number;
  /** Instances with other than exactly one attempt (0 expected). */
  instancesNotOneAttempt: number;
  /**
   * The attempts of those instances, counted by what each was (attempt number, kind, outcome, error code, HTTP status,
   * whether it was a replay or never finished): why an instance had more than one.
   */
  extraAttemptCauses: { attemptNo: number; what: string; attempts: number }[];
  /** How long the calls that got an answer took (duration_ms of finished attempts with an HTTP status), ms. */
  answeredCallMs: { p50: number; p99: number; max: number };
  /** What the simulator counted: NodeInstall requests, and instances it was asked to install more than once. */
  simulator: { requests: number; instancesCalledTwice: number };
  statusP50Ms: number;
  statusP99Ms: number;
  /** bytesPerInstance: the TABLES' bytes (with indexes and TOAST) over the instances. */
  before: Sizes & { bytesPerInstance: number };
  afterRetention: Sizes & { bytesPerInstance: number; attemptsDeleted: number };
};

const TABLES = ['rollout_instance', 'install_attempt', 'rollout', 'fleet_event', 'rollout_state_count'];

async function sizes(stack: BenchStack): Promise<Sizes> {
  await stack.db.query(`VACUUM FULL ${TABLES.join(', ')}`);
  const { rows } = await stack.db.query<{ name: string; bytes: string }>(
    `SELECT c.relname AS name, pg_total_relation_size(c.oid)::text AS bytes FROM pg_class c
     JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relkind = 'r'`,
  );
  const database = await stack.db.query<{ bytes: string }>(
    `SELECT pg_database_size(current_database())::text AS bytes`,
  );
  return {
    databaseBytes: Number(database.rows[0]!.bytes),
    byTable: Object.fromEntries(rows.filter((r) => TABLES.includes(r.name)).map((r) => [r.name, Number(r.bytes)])),
  };
}

/**
 * Samples Redis's used_memory every 500 ms on a connection of its own; the peak above the first sample. A sample
 * that fails (the connection dropped, which happened once 25 minutes into a loaded run) is skipped: the peak is of
 * the samples taken, and the run goes on.
 */
function traceRedisMemory(redis: Redis): { stop(): Promise<{ peakAboveStart: number; failedSamples: number }> } {
  const own = redis.duplicate({ maxRetriesPerRequest: 1 });
  own.on('error', () => undefined);
  const read = async () => Number(/used_memory:(\d+)/.exec(await own.info('memory'))?.[1] ?? 0);
  let first: number | undefined;
  let peak = 0;
  let failedSamples = 0;
  let busy: Promise<void> = Promise.resolve();
  const sample = () => {
    busy = read().then(
      (bytes) => {
        first ??= bytes;
        peak = Math.max(peak, bytes);
      },
      () => {
        failedSamples += 1;
      },
    );
  };
  sample();
  const timer = setInterval(sample, 500);
  return {
    async stop() {
      clearInterval(timer);
      await busy;
      own.disconnect();
      return { peakAboveStart: peak - (first ?? 0), failedSamples };
    },
  };
}

/** The product's tables of a rollout's life (TABLES), with their indexes and TOAST: not the empty database's catalog. */
const tablesBytes = (sizes: Sizes) => Object.values(sizes.byTable).reduce((sum, bytes) => sum + bytes, 0);

const quantile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;

export async function measureMillion(stack: BenchStack, redis: Redis, options: MillionOptions): Promise<MillionResult> {
  const instances = options.rollouts * options.instancesPerRollout;
  await prepareSimulator(stack, options.latencyMs);
  const api = traceMemory(stack.api().pid, 500);
  const workers = stack.workers().map((w) => traceMemory(w.pid, 500));
  const redisMemory = traceRedisMemory(redis);
  const started = Date.now();
  const created = [];
  for (let r = 0; r < options.rollouts; r++) {
    const ids = instanceIdsFor(`m${r}x`, options.instancesPerRollout);
    created.push(await createRollout(stack, ids, options.concurrency));
    options.log(
      `million: rollout ${r + 1}/${options.rollouts} created (${created.at(-1)!.msTo202.toFixed(0)} ms to 202)`,
    );
  }
  let lastLog = Date.now();
  for (const rollout of created) {
    await waitForRolloutDone(stack, rollout.id, options.timeoutMs, () => {
      if (Date.now() - lastLog < 30_000) return;
      lastLog = Date.now();
      void stack.db
        .query<{ n: string }>(`SELECT sum(n)::text AS n FROM rollout_state_count WHERE state = 'succeeded'`)
        .then(({ rows }) => options.log(`million: ${rows[0]?.n ?? 0} of ${instances} succeeded`));
    });
  }
  const { rows: finished } = await stack.db.query<{ at: Date }>(
    `SELECT max(finished_at) AS at FROM rollout WHERE id = ANY($1::uuid[])`,
    [created.map((c) => c.id)],
  );
  const seconds = (finished[0]!.at.getTime() - started) / 1000;
  const [apiTrace, workerTraces, redisPeak] = await Promise.all([
    api.stop(),
    Promise.all(workers.map((w) => w.stop())),
    redisMemory.stop(),
  ]);
  const peak = (trace: MemoryTrace) => Math.max(trace.peakRssBytes, trace.hwmBytes);

  const { rows: attemptRows } = await stack.db.query<{ attempts: string; odd: string }>(
    `SELECT (SELECT count(*) FROM install_attempt)::text AS attempts,
            (SELECT count(*) FROM rollout_instance i
              WHERE (SELECT count(*) FROM install_attempt a WHERE a.rollout_instance_id = i.id) <> 1)::text AS odd`,
  );
  const { rows: causeRows } = await stack.db.query<{ attempt_no: number; what: string; n: string }>(
    `SELECT a.attempt_no, concat_ws(' ', a.kind::text, coalesce(a.outcome_kind, a.outcome::text, 'unfinished'),
              a.error_code, 'http ' || a.http_status, CASE WHEN a.replay_started_at IS NOT NULL THEN 'replayed' END,
              CASE WHEN a.finished_at IS NULL THEN 'unfinished' END) AS what, count(*)::text AS n
       FROM install_attempt a
      WHERE a.rollout_instance_id IN (SELECT rollout_instance_id FROM install_attempt GROUP BY 1 HAVING count(*) > 1)
      GROUP BY 1, 2 ORDER BY 1, 3 DESC LIMIT 40`,
  );
  const { rows: durationRows } = await stack.db.query<{ p50: number; p99: number; max: number }>(
    `SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY duration_ms) AS p50,
            percentile_disc(0.99) WITHIN GROUP (ORDER BY duration_ms) AS p99, max(duration_ms) AS max
       FROM install_attempt WHERE http_status IS NOT NULL`,
  );
  const sim = limitFacts(await simStats(stack), options.concurrency * options.rollouts);
  const status: number[] = [];
  for (let i = 0; i < options.statusSamples; i++) {
    const t0 = performance.now();
    await getRollout(stack, created[0]!.id);
    status.push(performance.now() - t0);
  }
  status.sort((a, b) => a - b);

  options.log('million: sizes before retention (VACUUM FULL)');
  const before = await sizes(stack);
  const db = createDatabase({ url: stack.databaseUrl, poolMax: 2 });
  let attemptsDeleted = 0;
  try {
    for (;;) {
      const pass = await summariseOldAttempts(db, { finishedBefore: new Date(Date.now() + 1000), maxRollouts: 10 });
      attemptsDeleted += pass.attemptsDeleted;
      if (pass.rollouts === 0) break;
    }
  } finally {
    await db.close();
  }
  options.log('million: sizes after retention (VACUUM FULL)');
  const after = await sizes(stack);
  return {
    rollouts: options.rollouts,
    instances,
    workers: workerTraces.length,
    concurrencyPerRollout: options.concurrency,
    latencyMs: options.latencyMs,
    seconds,
    instancesPerSecond: instances / seconds,
    maxMsTo202: Math.max(...created.map((c) => c.msTo202)),
    apiPeakRssBytes: peak(apiTrace),
    workerPeakRssBytes: workerTraces.map(peak),
    redisPeakAboveStartBytes: redisPeak.peakAboveStart,
    redisFailedSamples: redisPeak.failedSamples,
    attempts: Number(attemptRows[0]!.attempts),
    instancesNotOneAttempt: Number(attemptRows[0]!.odd),
    extraAttemptCauses: causeRows.map((r) => ({ attemptNo: r.attempt_no, what: r.what, attempts: Number(r.n) })),
    answeredCallMs: {
      p50: Number(durationRows[0]!.p50),
      p99: Number(durationRows[0]!.p99),
      max: Number(durationRows[0]!.max),
    },
    simulator: { requests: sim.requests, instancesCalledTwice: sim.instancesCalledTwice },
    statusP50Ms: quantile(status, 0.5),
    statusP99Ms: quantile(status, 0.99),
    before: { ...before, bytesPerInstance: tablesBytes(before) / instances },
    afterRetention: { ...after, bytesPerInstance: tablesBytes(after) / instances, attemptsDeleted },
  };
}

export function renderMillionReport(result: MillionResult): string {
  const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(0)} MiB`;
  const perInstance = (sizes: Sizes, table: string) => ((sizes.byTable[table] ?? 0) / result.instances).toFixed(0);
  return [
    `A million instances: ${result.rollouts} rollouts of ${(result.instances / result.rollouts).toLocaleString('en-US')}, ` +
      `${result.workers} worker processes, concurrency ${result.concurrencyPerRollout} each, simulator L=${result.latencyMs} ms`,
    `  took ${result.seconds.toFixed(0)} s: ${result.instancesPerSecond.toFixed(0)} instances/s; slowest POST to 202 ` +
      `${result.maxMsTo202.toFixed(0)} ms`,
    `  attempts ${result.attempts.toLocaleString('en-US')}; instances without exactly one attempt: ${result.instancesNotOneAttempt}`,
    `  answered calls took p50 ${result.answeredCallMs.p50} ms, p99 ${result.answeredCallMs.p99} ms, ` +
      `max ${result.answeredCallMs.max} ms; the simulator saw ${result.simulator.requests.toLocaleString('en-US')} ` +
      `requests, ${result.simulator.instancesCalledTwice.toLocaleString('en-US')} instances asked more than once`,
    ...result.extraAttemptCauses.map(
      (c) => `    their attempt ${c.attemptNo}: ${c.what} x ${c.attempts.toLocaleString('en-US')}`,
    ),
    `  peak RSS: API ${mib(result.apiPeakRssBytes)}, workers ${result.workerPeakRssBytes.map(mib).join(', ')}`,
    `  Redis peak above its start: ${mib(result.redisPeakAboveStartBytes)}` +
      (result.redisFailedSamples > 0 ? ` (${result.redisFailedSamples} samples failed and were skipped)` : ''),
    `  status of a finished ${(result.instances / result.rollouts).toLocaleString('en-US')}-instance rollout: ` +
      `p50 ${result.statusP50Ms.toFixed(1)} ms, p99 ${result.statusP99Ms.toFixed(1)} ms`,
    `  database ${mib(result.before.databaseBytes)}; its tables ${result.before.bytesPerInstance.toFixed(0)} B/instance ` +
      `(instances ${perInstance(result.before, 'rollout_instance')}, attempts ${perInstance(result.before, 'install_attempt')}, ` +
      `events ${perInstance(result.before, 'fleet_event')})`,
    `  after retention (${result.afterRetention.attemptsDeleted.toLocaleString('en-US')} attempt rows summarised): ` +
      `database ${mib(result.afterRetention.databaseBytes)}; its tables ${result.afterRetention.bytesPerInstance.toFixed(0)} B/instance ` +
      `(instances ${perInstance(result.afterRetention, 'rollout_instance')}, attempts ${perInstance(result.afterRetention, 'install_attempt')})`,
  ].join('\n');
}
