/**
 * `--only reads` (issue 24): does the API stay fast to read while people watch a large rollout, and does watching it
 * slow the rollout down? One large rollout (20,000 instances, C=200, L=20 ms, limiter out of the way, 5% of the
 * instances failing for want of Server Guard so the failure report has something to group) runs twice per round,
 * side by side:
 *   alone    nothing else talks to the API
 *   watched  `pollers` clients each poll once per `pollIntervalMs` (status, a page of the instance list walking its
 *            cursor, the failure report, in turn; with If-None-Match, as a client that keeps the ETag does), and
 *            `creators` clients each create a small rollout once per `createIntervalMs` (both kinds of client spread
            over their interval, not all at once)
 *            (the clients are @fleet/testing's rollout-load.ts, shared with the load acceptance test)
 * It prints status / list / report latency (p50, p99, max; 200s and 304s), the rollout's throughput watched against
 * alone, and the API's event-loop delay (a probe loaded into the API process, probes/event-loop-probe.ts).
 */
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import type { LatencyFigures, LoadClientOptions, RolloutReadKind, RolloutReadSample } from '@fleet/testing';
import { pollRolloutReads, postRollouts, summarizeLatency } from '@fleet/testing';
import { instanceIdsFor } from './baselines/baseline-env.ts';
import { createRollout, rolloutFacts, waitForEnqueued, waitForRolloutDone } from './clients.ts';
import type { CpuMeter, CpuPerInstance } from './cpu.ts';
import { measureReadCosts } from './measure-read-costs.ts';
import type { ReadCost, ReadCostKind } from './measure-read-costs.ts';
import { repoRoot, sleep } from './processes.ts';
import type { BenchStack } from './stack.ts';

type ReadFigures = LatencyFigures & { ok200: number; notModified304: number; errors: number };

type EventLoopFigures = { seconds: number; p50OfP99Ms: number; maxP99Ms: number; maxMs: number };

export type ReadsRun = {
  watched: boolean;
  instances: number;
  seconds: number;
  throughput: number;
  failed: number;
  reads: Record<RolloutReadKind, ReadFigures> | null;
  creates: (LatencyFigures & { errors: number }) | null;
  /** Requests the pollers and creators made per second of the run. */
  requestsPerSecond: number | null;
  /** The 8 slowest requests of a watched run (pollers' and creators'), slowest first. */
  slowest?: SlowRequest[] | null;
  eventLoop: EventLoopFigures | null;
  cpuMsPerInstance: CpuPerInstance;
  /** Alone runs: what each kind of read of the finished rollout costs (measure-read-costs.ts). */
  readCosts: Record<ReadCostKind, ReadCost> | null;
  /**
   * The machine's 1-minute load average when the rollout was posted and when it finished: on a shared machine the
   * figures are the machine's as much as the API's.
   */
  loadAverage: { atStart: number; atEnd: number };
};

export type ReadsResult = {
  settings: ReadsOptions;
  runs: ReadsRun[];
  /** Round by round, watched throughput / alone throughput. */
  throughputRatios: number[];
};

export type ReadsOptions = {
  instances: number;
  concurrency: number;
  latencyMs: number;
  failureRate: number;
  pollers: number;
  pollIntervalMs: number;
  creators: number;
  createIntervalMs: number;
  creatorInstances: number;
  /** Instances per page of the list pollers walk. */
  listLimit: number;
  /** Sequential requests of each kind for the per-request costs (after the alone run). */
  costRequests: number;
  rounds: number;
  timeoutMs: number;
};

const PROBE = path.join(repoRoot, 'bench', 'src', 'probes', 'event-loop-probe.ts');

/** The slowest requests of a watched run, with when they started: a tail at the start is a cold API, not a load. */
type SlowRequest = { kind: RolloutReadKind | 'create'; ms: number; atS: number };

/** What the pollers and creators of one watched run share: the API, the bench's key, the run's clock. */
function clientOptions(
  stack: BenchStack,
  intervalMs: number,
  running: () => boolean,
  runStartedMs: number,
): LoadClientOptions {
  return { apiUrl: stack.apiUrl, apiKey: stack.apiKey, intervalMs, originMs: runStartedMs, running };
}

function readFigures(samples: RolloutReadSample[], kind: RolloutReadKind): ReadFigures {
  const mine = samples.filter((s) => s.kind === kind);
  return {
    ...summarizeLatency(mine.filter((s) => s.status === 200 || s.status === 304).map((s) => s.ms)),
    ok200: mine.filter((s) => s.status === 200).length,
    notModified304: mine.filter((s) => s.status === 304).length,
    errors: mine.filter((s) => s.status !== 200 && s.status !== 304).length,
  };
}

function slowestRequests(samples: RolloutReadSample[], creates: { ms: number; atMs: number }[]): SlowRequest[] {
  return [
    ...samples.map((s) => ({ kind: s.kind, ms: s.ms, atMs: s.atMs })),
    ...creates.map((c) => ({ kind: 'create' as const, ms: c.ms, atMs: c.atMs })),
  ]
    .sort((a, b) => b.ms - a.ms)
    .slice(0, 8)
    .map((r) => ({ kind: r.kind, ms: Math.round(r.ms), atS: Math.round(r.atMs / 100) / 10 }));
}

/**
 * The API was just restarted (with the event-loop probe): a few of each read and a creation first, so the watched
 * run's tail is not the first requests' connections, query plans and JIT, which a running API has long paid for.
 */
async function warmUp(stack: BenchStack, prefix: string): Promise<void> {
  const small = await createRollout(stack, instanceIdsFor(`${prefix}w`, 10), 10);
  const headers = { authorization: `Bearer ${stack.apiKey}` };
  for (let i = 0; i < 10; i++) {
    for (const url of [
      `/v1/rollouts/${small.id}`,
      `/v1/rollouts/${small.id}/instances?limit=100`,
      `/v1/rollouts/${small.id}/report`,
    ]) {
      await (await fetch(`${stack.apiUrl}${url}`, { headers })).arrayBuffer();
    }
  }
  await createRollout(stack, instanceIdsFor(`${prefix}w2`, 10), 10);
  await waitForRolloutDone(stack, small.id, 60_000);
}

/** The probe's per-second lines printed between `fromMs` and `toMs`. */
function eventLoopFigures(stack: BenchStack, fromMs: number, toMs: number): EventLoopFigures | null {
  const seconds = stack
    .api()
    .jsonLines()
    .map((line) => (line as { eventLoopProbe?: { atMs: number; p99Ms: number; maxMs: number } }).eventLoopProbe)
    .filter((p): p is { atMs: number; p99Ms: number; maxMs: number } => !!p && p.atMs >= fromMs && p.atMs <= toMs);
  if (seconds.length === 0) return null;
  const p99s = seconds.map((s) => s.p99Ms).sort((a, b) => a - b);
  return {
    seconds: seconds.length,
    p50OfP99Ms: p99s[Math.floor((p99s.length - 1) / 2)]!,
    maxP99Ms: p99s.at(-1)!,
    maxMs: Math.max(...seconds.map((s) => s.maxMs)),
  };
}

async function prepareSimulator(stack: BenchStack, options: ReadsOptions): Promise<void> {
  const scenario = await fetch(`${stack.simUrl}_sim/scenario`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ latencyMs: options.latencyMs, failureRate: options.failureRate }),
  });
  if (!scenario.ok) throw new Error(`POST /_sim/scenario: ${scenario.status} ${await scenario.text()}`);
  await scenario.arrayBuffer().catch(() => undefined);
}

async function runOnce(
  stack: BenchStack,
  cpu: CpuMeter,
  options: ReadsOptions,
  watched: boolean,
  prefix: string,
): Promise<ReadsRun> {
  await stack.restartApi(['--import', 'tsx', '--import', PROBE]);
  await prepareSimulator(stack, options);
  const meter = await cpu.start([
    ...stack.workers().map((w) => ({ label: 'worker', pid: w.pid })),
    { label: 'api', pid: stack.api().pid },
  ]);
  if (watched) await warmUp(stack, prefix);
  const loadAtStart = os.loadavg()[0]!;
  const runStartedMs = performance.now();
  const created = await createRollout(stack, instanceIdsFor(prefix, options.instances), options.concurrency);
  let running = watched;
  const samples: RolloutReadSample[] = [];
  const creates: { ms: number; ok: boolean; atMs: number }[] = [];
  const clients = watched
    ? [
        ...Array.from({ length: options.pollers }, (_, i) =>
          sleep((options.pollIntervalMs * i) / options.pollers).then(() =>
            pollRolloutReads(
              {
                ...clientOptions(stack, options.pollIntervalMs, () => running, runStartedMs),
                rolloutId: created.id,
                listLimit: options.listLimit,
                firstTurn: i,
              },
              (sample) => samples.push(sample),
            ),
          ),
        ),
        // Spread over the interval as the pollers are: independent clients do not post in the same millisecond.
        ...Array.from({ length: options.creators }, (_, i) =>
          sleep((options.createIntervalMs * (i + 0.5)) / options.creators).then(() =>
            postRollouts(
              {
                ...clientOptions(stack, options.createIntervalMs, () => running, runStartedMs),
                userId: stack.userId,
                force: true,
                concurrency: 10,
                instanceIds: (n) => instanceIdsFor(`${prefix}c${i}${n.toString(36)}x`, options.creatorInstances),
              },
              (sample) => creates.push({ ms: sample.ms, ok: sample.status === 202, atMs: sample.atMs }),
            ),
          ),
        ),
      ]
    : [];
  try {
    await waitForEnqueued(stack, created.id, options.timeoutMs);
    await waitForRolloutDone(stack, created.id, options.timeoutMs);
  } finally {
    running = false;
    await Promise.all(clients);
  }
  const cpuMsPerInstance = await meter.stop(options.instances);
  const loadAtEnd = os.loadavg()[0]!;
  const facts = await rolloutFacts(stack, created.id);
  const endMs = facts.finishedAtMs!;
  const seconds = (endMs - created.requestStartedAtMs) / 1000;
  const { rows } = await stack.db.query<{ n: number }>(
    `SELECT n FROM rollout_state_count WHERE rollout_id = $1::uuid AND state = 'failed'`,
    [created.id],
  );
  return {
    watched,
    instances: options.instances,
    seconds,
    throughput: options.instances / seconds,
    failed: rows[0]?.n ?? 0,
    reads: watched
      ? {
          status: readFigures(samples, 'status'),
          list: readFigures(samples, 'list'),
          report: readFigures(samples, 'report'),
        }
      : null,
    creates: watched
      ? {
          ...summarizeLatency(creates.filter((c) => c.ok).map((c) => c.ms)),
          errors: creates.filter((c) => !c.ok).length,
        }
      : null,
    requestsPerSecond: watched ? (samples.length + creates.length) / seconds : null,
    slowest: watched ? slowestRequests(samples, creates) : null,
    eventLoop: eventLoopFigures(stack, created.requestStartedAtMs, endMs),
    cpuMsPerInstance,
    readCosts: watched ? null : await measureReadCosts(stack, cpu, created.id, options.costRequests),
    loadAverage: { atStart: loadAtStart, atEnd: loadAtEnd },
  };
}

export async function measureReads(
  stack: BenchStack,
  cpu: CpuMeter,
  options: ReadsOptions,
  log: (line: string) => void,
): Promise<ReadsResult> {
  const runs: ReadsRun[] = [];
  const throughputRatios: number[] = [];
  for (let round = 0; round < options.rounds; round++) {
    const pair: ReadsRun[] = [];
    for (const watched of [false, true]) {
      const what = watched ? `with ${options.pollers} pollers and ${options.creators} creators` : 'alone';
      const roundLabel = options.rounds > 1 ? ` (round ${round + 1})` : '';
      log(`reads: ${options.instances.toLocaleString('en-US')} instances ${what}${roundLabel}`);
      const run = await runOnce(stack, cpu, options, watched, `r${round}${watched ? 'w' : 'a'}`);
      log(
        `  ${run.seconds.toFixed(1)} s, ${run.throughput.toFixed(0)}/s, load ${run.loadAverage.atStart.toFixed(1)} -> ` +
          `${run.loadAverage.atEnd.toFixed(1)}` +
          (run.reads
            ? `; status p99 ${run.reads.status.p99Ms.toFixed(0)} ms, list p99 ${run.reads.list.p99Ms.toFixed(0)} ms, ` +
              `report p99 ${run.reads.report.p99Ms.toFixed(0)} ms`
            : ''),
      );
      pair.push(run);
      runs.push(run);
    }
    throughputRatios.push(pair[1]!.throughput / pair[0]!.throughput);
  }
  return { settings: options, runs, throughputRatios };
}
