/**
 * `npm run bench` (full) and `npm run bench -- --quick` (what CI runs, so the harness never rots).
 *
 * Starts what it needs (a database of its own, a Redis prefix of its own, the simulator, API and worker apps as
 * child processes), runs the six measurements of issue 7, prints a table and writes everything to
 * bench/results/<timestamp>.json (a quick run's to the temporary directory: see resultFile). Figures are ratios of
 * runs made side by side in this one invocation: absolute times drift on shared machines. Nothing here asserts a
 * time; the process fails only if the harness itself fails.
 *
 * Options: --quick, --workers <n> (worker processes, default 1), --instances <n> (per throughput run),
 * --pairs 50:200,100:100 (C:L ms), --large <n> (the large rollout), --large-pair 200:20, --repeat <n> (rounds, each
 * running every variant once; the median run is shown, and ratios are the median of the rounds' ratios),
 * --variants plain,bare,ours, --keep-db, --out <file>, --only creation (measurement 3
 * alone: creating the --large and the 10,000-instance (quick: 500) rollouts, --repeat rounds, a minute or two),
 * --only install-path (measurement 7 alone: the install path's Postgres CPU per instance against the floor of a bare
 * insert and update, --repeat rounds but at least three, under a minute; it also ends every full and quick run),
 * --only stream (200 event-stream clients on the API during a 10,000-instance rollout vs none, alternating, --repeat
 * rounds but at least three: the throughput ratio; quick: 20 clients, 1,000 instances; see measure-stream.ts),
 * --only metrics (issue 16: what a scrape of the reconciler's /metrics costs with 1 and with 100 open rollouts, p50/p99
 * over HTTP, under a minute),
 * --only rate (issues 23 and 24: achieved against configured account rate at 50, 100, 500 and 5,000/s for one
 * account, 10,000 instances each, and for 20 accounts at once, 2 worker processes, the worst one-second windows, and
 * the limiter-free baseline, and the adaptive rate under a lower quota and after it is lifted; about ten minutes;
 * --rates 500,20x50 runs those alone (adaptive: that one); --rate-created-first creates and enqueues the rollouts
 * before the workers start, so that the creation's CPU is not in the calls' rate (its workers start cold); each run's
 * workers first run a warm-up of their own, as a worker that has run before, unless --rate-cold),
 * --only reads (issue 24: a 20,000-instance rollout alone and watched by 50 pollers and 5 creators, --repeat
 * rounds; quick: 2,000 instances, 10 pollers; see measure-reads.ts),
 * --only million (issue 23: ten rollouts of 100,000 at once on 10 worker processes at L=5 ms, then attempt
 * retention; time, RSS, Redis and Postgres sizes; quick: two of 2,000 on 2 workers; --concurrency <n> per rollout,
 * default 50; see measure-million.ts),
 * --only webhooks (issue 17: a 10,000-instance rollout with three webhook subscriptions vs none, alternating, --repeat
 * rounds but at least three: the throughput ratio, and what the receivers got; quick: 1,000; see measure-webhooks.ts),
 * --only plans (issue 21: a dry run of 100,000 ids with 1,000 bad, and a pre-checked dry run of 10,000 against the
 * simulator, --repeat rounds but at least three, seconds beside the targets of 5 s and a minute; quick: 10,000 with
 * 100 bad and 1,000; the API alone, under a minute; see measure-plans.ts).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { createLogger } from '@fleet/logger';
import { createCpuMeter } from './cpu.ts';
import { measureInstallPath } from './measure-install-path.ts';
import { measureMetrics, renderMetricsReport } from './measure-metrics.ts';
import { measureMillion, renderMillionReport } from './measure-million.ts';
import { measurePlans, renderPlansReport } from './measure-plans.ts';
import { measureRate, renderRateReport } from './measure-rate.ts';
import type { InstallPathResult } from './measure-install-path.ts';
import type { LargeRolloutResult } from './measure-large-rollout.ts';
import { measureCreationOnly, measureLargeRollout } from './measure-large-rollout.ts';
import { measureReads } from './measure-reads.ts';
import type { ReadsOptions } from './measure-reads.ts';
import type { ThroughputContext, Variant } from './measure-throughput.ts';
import { runners } from './measure-throughput.ts';
import { repoRoot } from './processes.ts';
import type { BenchResult, CreationBenchResult, MachineFacts, PairResult } from './report.ts';
import { evaluateTargets, renderCreationReport, renderInstallPathReport, renderReport } from './report.ts';
import { renderReadsReport } from './report-reads.ts';
import { startStack } from './stack.ts';
import { measureStream, renderStreamReport } from './measure-stream.ts';
import { measureWebhooks, writeWebhooksResult } from './measure-webhooks.ts';
import type { BenchStack } from './stack.ts';

const FULL_PAIRS: [number, number][] = [
  [50, 200],
  [100, 100],
  [200, 50],
  [500, 20],
];

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    workers: { type: 'string' },
    concurrency: { type: 'string' },
    instances: { type: 'string' },
    pairs: { type: 'string' },
    large: { type: 'string' },
    'large-pair': { type: 'string' },
    repeat: { type: 'string' },
    variants: { type: 'string' },
    'keep-db': { type: 'boolean', default: false },
    out: { type: 'string' },
    only: { type: 'string' },
    rates: { type: 'string' },
    'rate-created-first': { type: 'boolean', default: false },
    'rate-cold': { type: 'boolean', default: false },
  },
  strict: true,
});

function positiveInt(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a positive integer, not "${value}"`);
  return n;
}

function parsePairs(name: string, value: string | undefined, fallback: [number, number][]): [number, number][] {
  if (value === undefined) return fallback;
  return value.split(',').map((p) => {
    const [c, l] = p.split(':').map(Number);
    if (!Number.isInteger(c) || !Number.isInteger(l) || c! < 1 || l! < 1)
      throw new Error(`--${name}: "${p}" is not C:L (concurrency:latency ms)`);
    return [c!, l!];
  });
}

const quick = args.quick;
const settings = {
  pairs: parsePairs('pairs', args.pairs, quick ? [[50, 20]] : FULL_PAIRS),
  instances: positiveInt('instances', args.instances, quick ? 500 : 10_000),
  repeat: positiveInt('repeat', args.repeat, 1),
  variants: (args.variants?.split(',') ?? ['plain', 'bare', 'ours']) as Variant[],
  workers: positiveInt('workers', args.workers, 1),
  large: positiveInt('large', args.large, quick ? 2_000 : 100_000),
  largePair: parsePairs('large-pair', args['large-pair'], [quick ? [50, 20] : [200, 20]])[0]!,
  // Workers look for new rollouts this often. The product default is 1000 ms; a short run would mostly measure that
  // wait (up to one interval before the first call), so it is shortened here and the start-up is shown separately.
  rolloutPollMs: 100,
};
const ONLY = ['creation', 'install-path', 'stream', 'rate', 'reads', 'metrics', 'million', 'webhooks', 'plans'];
if (args.only !== undefined && !ONLY.includes(args.only))
  throw new Error(`--only: unknown measurement "${args.only}" (${ONLY.join(', ')})`);
for (const v of settings.variants)
  if (!(v in runners)) throw new Error(`--variants: unknown variant "${v}" (plain, bare, ours)`);
const midInstances = Math.min(settings.large, quick ? 500 : 10_000);

const log = (line: string) => process.stderr.write(`${line}\n`);

/**
 * Each worker's DB_POOL_MAX for `workers` of them on this Postgres: what max_connections leaves once the connections
 * open now and the API's, the reconciler's and the bench's are counted (30), shared out, less the four of each worker's
 * install path. Ten workers at the default 20 (24 with the install path) want 240 connections; on a server of 100 the
 * ones refused stalled the run at 555,245 instances.
 */
async function workerPoolFor(stack: BenchStack, workers: number): Promise<number> {
  const { rows } = await stack.db.query<{ max: string; open: string }>(
    `SELECT current_setting('max_connections') AS max, (SELECT count(*) FROM pg_stat_activity)::text AS open`,
  );
  const free = Number(rows[0]!.max) - Number(rows[0]!.open) - 30;
  const pool = Math.max(2, Math.min(20, Math.floor(free / workers) - 4));
  log(`million: ${workers} workers with DB_POOL_MAX ${pool} (max_connections ${rows[0]!.max}, ${rows[0]!.open} open)`);
  return pool;
}

/** `--only million`: ten rollouts of 100,000 on 10 workers (quick: two of 2,000 on 2); --large sets a rollout's size. */
const millionSettings = {
  rollouts: quick ? 2 : 10,
  instancesPerRollout: positiveInt('large', args.large, quick ? 2_000 : 100_000),
  workers: positiveInt('workers', args.workers, quick ? 2 : 10),
  concurrency: positiveInt('concurrency', args.concurrency, 50),
  latencyMs: 5,
  statusSamples: quick ? 20 : 200,
};

/** `--only reads`: issue 24's load (quick: a small version of it). --instances sets the large rollout's size. */
const readsSettings: ReadsOptions = {
  instances: positiveInt('instances', args.instances, quick ? 2_000 : 20_000),
  concurrency: 200,
  latencyMs: 20,
  failureRate: 0.05,
  pollers: quick ? 10 : 50,
  pollIntervalMs: 1000,
  creators: quick ? 1 : 5,
  createIntervalMs: 1000,
  creatorInstances: 10,
  listLimit: 100,
  costRequests: quick ? 20 : 200,
  rounds: settings.repeat,
  timeoutMs: 600_000,
};

/** Writes a run's JSON to `outFile` and prints its report with where the JSON went. */
async function writeResult(outFile: string, result: unknown, report: string): Promise<void> {
  await mkdir(path.dirname(outFile), { recursive: true });
  await writeFile(outFile, `${JSON.stringify(result, null, 2)}\n`);
  process.stdout.write(`\n${report}\n\nResults: ${path.relative(process.cwd(), outFile)}\n`);
}

/** `--only plans`: issue 21's sizes (quick: a tenth, one round). */
const plansSettings = {
  dryRunIds: quick ? 10_000 : 100_000,
  badIds: quick ? 100 : 1_000,
  precheckIds: quick ? 1_000 : 10_000,
  rounds: Math.max(settings.repeat, quick ? 1 : 3),
};

async function machineFacts(stack: BenchStack): Promise<MachineFacts> {
  const { rows } = await stack.db.query<{ server_version: string }>('SHOW server_version');
  const redis = new Redis(stack.redisUrl, { maxRetriesPerRequest: 3 });
  const info = await redis.info('server');
  await redis.quit();
  return {
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model.trim() ?? 'unknown',
    memoryGiB: os.totalmem() / 1024 ** 3,
    node: process.version,
    postgres: `PostgreSQL ${rows[0]?.server_version.split(' ')[0] ?? '?'}`,
    redis: /redis_version:(\S+)/.exec(info)?.[1] ?? '?',
    loadAverage: os.loadavg(),
  };
}

/**
 * Generous: five times the ideal duration plus a minute, and never less than 100 instances a second would take, so a
 * slow machine or a slow write path gives slow figures rather than no figures.
 */
const timeoutFor = (instances: number, concurrency: number, latencyMs: number) =>
  Math.round(Math.max((instances / (concurrency / (latencyMs / 1000))) * 5 * 1000 + 60_000, (instances / 100) * 1000));

/** Measurement 7: batches of 1 (an idle system), 25 (about what a busy worker's batches hold at C=200) and 100. */
const installPathSettings = { batches: quick ? [1, 25] : [1, 25, 100], instances: quick ? 500 : 5_000 };

function measureInstallPathNow(rounds: number): Promise<InstallPathResult> {
  log(
    `install path alone: Postgres CPU per instance, batches of ${installPathSettings.batches.join(', ')}, ${rounds} round(s)`,
  );
  return measureInstallPath({ ...installPathSettings, rounds, log });
}

/** `--only stream`: 200 (quick: 20) stream clients on the API during a 10,000 (quick: 1,000) instance rollout vs none. */
async function runStreamBench(
  stack: BenchStack,
  cpu: ReturnType<typeof createCpuMeter>,
  machine: MachineFacts,
  outFile: string,
  run: { startedAt: string; started: number },
): Promise<void> {
  const [concurrency, latencyMs] = settings.largePair;
  const instances = args.instances === undefined ? (quick ? 1_000 : 10_000) : settings.instances;
  const stream = await measureStream(stack, cpu, {
    instances,
    concurrency,
    latencyMs,
    clients: quick ? 20 : 200,
    rounds: Math.max(settings.repeat, quick ? 1 : 3),
    timeoutMs: timeoutFor(instances, concurrency, latencyMs),
    log,
  });
  const result = {
    mode: quick ? 'quick' : 'full',
    ...run,
    seconds: (Date.now() - run.started) / 1000,
    machine,
    stream,
  };
  await mkdir(path.dirname(outFile), { recursive: true });
  await writeFile(outFile, `${JSON.stringify(result, null, 2)}\n`);
  process.stdout.write(`\n${renderStreamReport(stream)}\n\nResults: ${path.relative(process.cwd(), outFile)}\n`);
}

/**
 * Where a run's results go unless `--out` says: a full run's to bench/results (tracked: docs/performance.md cites
 * them), a quick run's (the one `npm test` makes, a check that the harness works, not a measurement) to the system's
 * temporary directory, so that a test run leaves the checkout as it found it.
 */
function resultFile(startedAt: string, suffix: string): string {
  if (args.out !== undefined) return args.out;
  const dir = quick ? path.join(os.tmpdir(), 'fleet-bench-results') : path.join(repoRoot, 'bench', 'results');
  return path.join(dir, `${startedAt.replace(/[:.]/g, '-')}${quick ? '-quick' : ''}${suffix}.json`);
}

async function main(): Promise<void> {
  const started = Date.now();
  const startedAt = new Date().toISOString();
  if (args.only === 'metrics') {
    const metrics = await measureMetrics({ instancesPerRollout: 100, scrapes: quick ? 50 : 300, log });
    const outFile = resultFile(startedAt, '-metrics');
    await mkdir(path.dirname(outFile), { recursive: true });
    await writeFile(
      outFile,
      `${JSON.stringify({ startedAt, seconds: (Date.now() - started) / 1000, cpus: os.cpus().length, metrics }, null, 2)}\n`,
    );
    process.stdout.write(`\n${renderMetricsReport(metrics)}\n\nResults: ${path.relative(process.cwd(), outFile)}\n`);
    return;
  }
  if (args.only === 'install-path') {
    const installPath = await measureInstallPathNow(Math.max(settings.repeat, 3));
    const outFile = resultFile(startedAt, '-install-path');
    await mkdir(path.dirname(outFile), { recursive: true });
    await writeFile(
      outFile,
      `${JSON.stringify({ startedAt, seconds: (Date.now() - started) / 1000, cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, installPath }, null, 2)}\n`,
    );
    process.stdout.write(
      `\n${renderInstallPathReport(installPath)}\n\nResults: ${path.relative(process.cwd(), outFile)}\n`,
    );
    return;
  }
  const maxConcurrency =
    args.only === 'reads'
      ? readsSettings.concurrency + readsSettings.creators * readsSettings.creatorInstances
      : args.only === 'million'
        ? millionSettings.rollouts * millionSettings.concurrency
        : Math.max(...settings.pairs.map(([c]) => c), settings.largePair[0]);
  log(`fleet bench (${quick ? 'quick' : 'full'}): starting the stack`);
  const stack = await startStack({
    maxConcurrency,
    keepDatabase: args['keep-db'],
    latencyMs: settings.pairs[0]![1],
    rolloutPollMs: settings.rolloutPollMs,
    log,
  });
  const logger = createLogger({ service: 'bench', level: 'warn' });
  const redis = new Redis(stack.redisUrl, { maxRetriesPerRequest: null });
  redis.on('error', () => undefined);
  const cpu = createCpuMeter(stack, redis);
  let interrupted = false;
  const onSignal = () => {
    if (interrupted) process.exit(130);
    interrupted = true;
    log('interrupted: stopping the stack');
    void stack.close().finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const machine = await machineFacts(stack);
    const outFile = resultFile(startedAt, args.only ? `-${args.only}` : '');
    if (args.only === 'rate') {
      await stack.restartApi();
      const rate = await measureRate(stack, log, args.rates?.split(','), args['rate-created-first'], args['rate-cold']);
      const result = { startedAt, seconds: (Date.now() - started) / 1000, machine, rate };
      await writeResult(outFile, result, renderRateReport(rate));
      return;
    }
    if (args.only === 'plans') {
      // No worker: the pre-check keeps the API's default account rate (a worker would publish its own).
      await stack.restartApi();
      const plans = await measurePlans(stack, { ...plansSettings, log });
      const result = { startedAt, seconds: (Date.now() - started) / 1000, machine, plans };
      await writeResult(outFile, result, renderPlansReport(plans));
      return;
    }
    if (args.only === 'million') {
      await stack.restartApi();
      await stack.restartWorkers(millionSettings.workers, {
        DB_POOL_MAX: String(await workerPoolFor(stack, millionSettings.workers)),
      });
      const million = await measureMillion(stack, redis, {
        ...millionSettings,
        timeoutMs: timeoutFor(millionSettings.rollouts * millionSettings.instancesPerRollout, maxConcurrency, 5),
        log,
      });
      const result = { startedAt, seconds: (Date.now() - started) / 1000, machine, million };
      await writeResult(outFile, result, renderMillionReport(million));
      return;
    }
    if (args.only === 'reads') {
      await stack.restartWorkers(settings.workers);
      const reads = await measureReads(stack, cpu, readsSettings, log);
      const result = { startedAt, seconds: (Date.now() - started) / 1000, machine, reads };
      await writeResult(outFile, result, renderReadsReport(result));
      return;
    }
    if (args.only === 'creation') {
      const [largeC, largeL] = settings.largePair;
      log(
        `rollout creation only: ${midInstances.toLocaleString('en-US')} and ${settings.large.toLocaleString('en-US')} instances, ${settings.repeat} round(s)`,
      );
      const creation = await measureCreationOnly(stack, {
        instances: settings.large,
        midInstances,
        concurrency: largeC,
        latencyMs: largeL,
        workers: settings.workers,
        singleInsertSample: quick ? 500 : 10_000,
        timeoutMs: timeoutFor(settings.large, largeC, largeL),
        rounds: settings.repeat,
        log,
      });
      const result: CreationBenchResult = {
        mode: quick ? 'quick' : 'full',
        startedAt,
        seconds: (Date.now() - started) / 1000,
        machine,
        settings: {
          large: settings.large,
          midInstances,
          largePair: `${largeC}:${largeL}`,
          repeat: settings.repeat,
          workers: settings.workers,
        },
        ...creation,
      };
      await mkdir(path.dirname(outFile), { recursive: true });
      await writeFile(outFile, `${JSON.stringify(result, null, 2)}\n`);
      process.stdout.write(`\n${renderCreationReport(result)}\n\nResults: ${path.relative(process.cwd(), outFile)}\n`);
      return;
    }
    await stack.restartApi();
    await stack.restartWorkers(settings.workers);
    if (args.only === 'webhooks') {
      const [concurrency, latencyMs] = settings.largePair;
      const instances = args.instances === undefined ? (quick ? 1_000 : 10_000) : settings.instances;
      const timeoutMs = timeoutFor(instances, concurrency, latencyMs);
      const rounds = Math.max(settings.repeat, quick ? 1 : 3);
      const webhooks = await measureWebhooks(stack, cpu, { instances, concurrency, latencyMs, rounds, timeoutMs, log });
      await writeWebhooksResult(outFile, { mode: quick ? 'quick' : 'full', startedAt, started, machine, webhooks });
      return;
    }
    if (args.only === 'stream') {
      await runStreamBench(stack, cpu, machine, outFile, { startedAt, started });
      return;
    }

    const throughput: PairResult[] = [];
    for (const [pairIndex, [concurrency, latencyMs]] of settings.pairs.entries()) {
      const ctx: ThroughputContext = {
        stack,
        redis,
        logger,
        cpu,
        timeoutMs: timeoutFor(settings.instances, concurrency, latencyMs),
        log,
      };
      const pair: PairResult = { concurrency, latencyMs, runs: [] };
      for (let round = 0; round < settings.repeat; round++) {
        for (const variant of settings.variants) {
          const roundLabel = settings.repeat > 1 ? ` (round ${round + 1})` : '';
          log(
            `throughput C=${concurrency} L=${latencyMs} ms, ${settings.instances.toLocaleString('en-US')} instances: ` +
              `${variant}${roundLabel}`,
          );
          const run = await runners[variant](
            ctx,
            concurrency,
            latencyMs,
            settings.instances,
            `${variant[0]}${pairIndex}r${round}x`,
          );
          const cpuSummary = Object.entries(run.cpuMsPerInstance)
            .map(([k, v]) => `${k} ${v.toFixed(2)}`)
            .join(', ');
          log(
            `  ${run.throughput.toFixed(0)}/s, efficiency ${run.efficiency.toFixed(2)}, ` +
              `maxInFlight ${run.limits.maxInFlight}; CPU ms per instance: ${cpuSummary}`,
          );
          pair.runs.push(run);
        }
      }
      throughput.push(pair);
    }

    const [largeC, largeL] = settings.largePair;
    log(`large rollout: ${settings.large.toLocaleString('en-US')} instances at C=${largeC}, L=${largeL} ms`);
    const large: LargeRolloutResult = await measureLargeRollout(stack, {
      instances: settings.large,
      midInstances,
      smallInstances: 100,
      concurrency: largeC,
      latencyMs: largeL,
      workers: settings.workers,
      singleInsertSample: quick ? 500 : 10_000,
      statusGapMs: quick ? 10 : 100,
      idleStatusSamples: quick ? 30 : 200,
      timeoutMs: timeoutFor(settings.large, largeC, largeL),
      log,
    });
    const installPath = await measureInstallPathNow(quick ? 1 : Math.max(settings.repeat, 3));

    const result: BenchResult = {
      mode: quick ? 'quick' : 'full',
      startedAt,
      seconds: (Date.now() - started) / 1000,
      machine,
      settings: {
        ...settings,
        pairs: settings.pairs.map(([c, l]) => `${c}:${l}`),
        largePair: `${largeC}:${largeL}`,
        midInstances,
      },
      throughput,
      large,
      installPath,
      targets: evaluateTargets(throughput, large),
    };
    await mkdir(path.dirname(outFile), { recursive: true });
    await writeFile(outFile, `${JSON.stringify(result, null, 2)}\n`);
    process.stdout.write(`\n${renderReport(result)}\n\nResults: ${path.relative(process.cwd(), outFile)}\n`);
  } finally {
    await redis.quit().catch(() => undefined);
    await stack.close();
  }
}

await main();
