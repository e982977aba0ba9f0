/**
 * Measurements 3, 4 and 5, around one large rollout (100,000 instances in the full run):
 *   3  creating it: POST /v1/rollouts time to 202 and the API process's peak RSS, against a 10,000-instance creation
 *      on an equally fresh API process (memory flat in the instance count?) and against single-row inserts
 *   4  GET /v1/rollouts/:id latency while it runs, interleaved with the same GET on a finished 100-instance rollout
 *      (same moment, same load: the difference is the instance count alone); also the small one on an idle system
 *   5  each worker process's RSS from the rollout's start to its end (fresh worker processes), then at the end of a
 *      second rollout of the same size on the same processes: growth over the long run, past the warm-up
 */
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { instanceIdsFor } from './baselines/baseline-env.ts';
import {
  createRollout,
  getRollout,
  limitFacts,
  prepareSimulator,
  rolloutFacts,
  simStats,
  waitForEnqueued,
  waitForRolloutDone,
} from './clients.ts';
import type { MemoryTrace } from './processes.ts';
import { readProcessMemory, sleep, traceMemory } from './processes.ts';
import type { BenchStack } from './stack.ts';

export type CreationFacts = {
  instances: number;
  msTo202: number;
  /** From the request to the last job of the rollout in Redis (the enqueue may go on after the 202). */
  msToEnqueued: number;
  apiRssBeforeBytes: number;
  apiRssPeakBytes: number;
  /** peak - before */
  apiRssGrowthBytes: number;
};

type LatencySummary = { samples: number; p50Ms: number; p99Ms: number; maxMs: number };

type WorkerMemoryFacts = {
  worker: string;
  /** When the large rollout was posted (the worker had already run the 100-instance rollout). */
  startRssBytes: number;
  /** When 10% of the rollout had finished: the working set of C jobs in flight, before any slow growth. */
  warmRssBytes: number | null;
  peakRssBytes: number;
  endRssBytes: number;
  /** VmHWM at the end: the process-lifetime peak. */
  hwmBytes: number;
  /** (end - start) / start */
  growthFromStart: number;
  /** (end - warm) / warm */
  growthFromWarm: number | null;
  /** RSS at the end of a second rollout of the same size, run right after on the same process. */
  afterSecondRssBytes: number;
  /** (after second - end) / end: growth over the second rollout, once the process is warm. */
  growthOverSecond: number;
};

export type LargeRolloutResult = {
  smallInstances: number;
  concurrency: number;
  latencyMs: number;
  creation: CreationFacts[];
  singleInserts: {
    measured: number;
    seconds: number;
    perSecond: number;
    extrapolatedSecondsFor: number;
    extrapolatedSeconds: number;
  };
  statusLatency: {
    large: LatencySummary;
    smallSameTime: LatencySummary;
    smallIdle: LatencySummary;
    ratioP50: number;
    ratioP99: number;
  };
  workerMemory: WorkerMemoryFacts[];
  run: {
    instances: number;
    seconds: number;
    throughput: number;
    efficiency: number;
    allRecorded: boolean;
    limits: ReturnType<typeof limitFacts>;
  };
};

export type LargeRolloutOptions = {
  instances: number;
  /** Size of the comparison creation (memory flat in the instance count). */
  midInstances: number;
  smallInstances: number;
  concurrency: number;
  latencyMs: number;
  workers: number;
  /** Single-row inserts actually made for the comparison (extrapolated to `instances`). */
  singleInsertSample: number;
  /** Pause between two status samples, ms. */
  statusGapMs: number;
  idleStatusSamples: number;
  timeoutMs: number;
  log: (line: string) => void;
};

function summarize(values: number[]): LatencySummary {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] ?? NaN;
  return { samples: sorted.length, p50Ms: at(0.5), p99Ms: at(0.99), maxMs: sorted.at(-1) ?? NaN };
}

/** Posts a rollout on a freshly started API process and traces that process's RSS until all its jobs are in Redis. */
async function measureCreation(
  stack: BenchStack,
  ids: string[],
  concurrency: number,
): Promise<{ id: string; facts: CreationFacts; requestStartedAtMs: number }> {
  const api = await stack.restartApi();
  await sleep(500);
  const before = (await readProcessMemory(api.pid))?.rssBytes ?? 0;
  const trace = traceMemory(api.pid, 25);
  let created;
  let enqueuedAtMs: number;
  let memory: MemoryTrace;
  try {
    created = await createRollout(stack, ids, concurrency);
    enqueuedAtMs = await waitForEnqueued(stack, created.id, 600_000);
  } finally {
    memory = await trace.stop();
  }
  const peak = Math.max(memory.peakRssBytes, before);
  return {
    id: created.id,
    requestStartedAtMs: created.requestStartedAtMs,
    facts: {
      instances: ids.length,
      msTo202: created.msTo202,
      msToEnqueued: Math.max(created.msTo202, enqueuedAtMs - created.requestStartedAtMs),
      apiRssBeforeBytes: before,
      apiRssPeakBytes: peak,
      apiRssGrowthBytes: peak - before,
    },
  };
}

/**
 * What a naive write path would cost: one INSERT per instance, each its own statement and commit, one after the
 * other, into a scratch rollout that no worker looks at (status cancelled) and that is deleted afterwards.
 */
async function measureSingleInserts(stack: BenchStack, count: number): Promise<{ seconds: number; perSecond: number }> {
  const client = new pg.Client({ connectionString: stack.databaseUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ id: string }>(
      `INSERT INTO rollout (id, user_id, force, status, concurrency, max_attempts, policy, total_instances)
       VALUES (gen_random_uuid(), $1, true, 'cancelled', 1, 1, '{}'::jsonb, $2) RETURNING id::text`,
      [stack.userId, count],
    );
    const rolloutId = rows[0]!.id;
    const ids = instanceIdsFor('single', count);
    const t0 = performance.now();
    for (const instanceId of ids) {
      await client.query('INSERT INTO rollout_instance (rollout_id, instance_id) VALUES ($1::uuid, $2) RETURNING id', [
        rolloutId,
        instanceId,
      ]);
    }
    const seconds = (performance.now() - t0) / 1000;
    await client.query('DELETE FROM rollout WHERE id = $1::uuid', [rolloutId]);
    return { seconds, perSecond: count / seconds };
  } finally {
    await client.end();
  }
}

export type CreationOnlyResult = {
  creation: CreationFacts[][];
  singleInserts: LargeRolloutResult['singleInserts'];
};

/**
 * Measurement 3 alone (`--only creation`): the same steps as in measureLargeRollout (the single-insert sample, the
 * mid-size creation on a fresh API while a worker runs it, then fresh workers and the large creation), `rounds`
 * times, each rollout run to completion before the next so every creation meets the same conditions.
 */
export async function measureCreationOnly(
  stack: BenchStack,
  options: Pick<
    LargeRolloutOptions,
    'instances' | 'midInstances' | 'concurrency' | 'latencyMs' | 'workers' | 'singleInsertSample' | 'timeoutMs' | 'log'
  > & { rounds: number },
): Promise<CreationOnlyResult> {
  const { concurrency, latencyMs, log } = options;
  await prepareSimulator(stack, latencyMs);
  log(`  single-row inserts: ${options.singleInsertSample.toLocaleString('en-US')} one at a time`);
  const single = await measureSingleInserts(stack, options.singleInsertSample);
  const creation: CreationFacts[][] = [];
  for (let round = 0; round < options.rounds; round++) {
    const facts: CreationFacts[] = [];
    for (const [label, count] of [
      ['cmid', options.midInstances],
      ['clarge', options.instances],
    ] as const) {
      await stack.restartWorkers(options.workers);
      await prepareSimulator(stack, latencyMs);
      log(
        `  creation of ${count.toLocaleString('en-US')} instances on a fresh API${options.rounds > 1 ? ` (round ${round + 1})` : ''}`,
      );
      const created = await measureCreation(stack, instanceIdsFor(`${label}${round}x`, count), concurrency);
      log(
        `    ${(created.facts.msTo202 / 1000).toFixed(2)} s to 202, API RSS +${(created.facts.apiRssGrowthBytes / 1024 / 1024).toFixed(0)} MiB`,
      );
      facts.push(created.facts);
      await waitForRolloutDone(stack, created.id, options.timeoutMs);
    }
    creation.push(facts);
  }
  return {
    creation,
    singleInserts: singleInsertFacts(options, single),
  };
}

export async function measureLargeRollout(
  stack: BenchStack,
  options: LargeRolloutOptions,
): Promise<LargeRolloutResult> {
  const { concurrency, latencyMs, log } = options;
  await prepareSimulator(stack, latencyMs);

  log(`  single-row inserts: ${options.singleInsertSample.toLocaleString('en-US')} one at a time`);
  const single = await measureSingleInserts(stack, options.singleInsertSample);

  log(`  creation of ${options.midInstances.toLocaleString('en-US')} instances on a fresh API`);
  const mid = await measureCreation(stack, instanceIdsFor('lmid', options.midInstances), concurrency);
  await waitForRolloutDone(stack, mid.id, options.timeoutMs);

  log(`  ${options.workers} fresh worker process(es); ${options.smallInstances}-instance rollout`);
  await stack.restartWorkers(options.workers);
  const small = await createRollout(stack, instanceIdsFor('lsmall', options.smallInstances), concurrency);
  await waitForRolloutDone(stack, small.id, options.timeoutMs);
  const idle: number[] = [];
  for (let i = 0; i < options.idleStatusSamples; i++) {
    idle.push((await getRollout(stack, small.id)).ms);
    await sleep(options.statusGapMs);
  }

  await prepareSimulator(stack, latencyMs);
  const workerTraces = stack.workers().map((w) => ({ worker: w.label, pid: w.pid, trace: traceMemory(w.pid, 250) }));
  const workerStart = await Promise.all(workerTraces.map(async (w) => (await readProcessMemory(w.pid))?.rssBytes ?? 0));
  log(`  creation of ${options.instances.toLocaleString('en-US')} instances; then status sampling until it completes`);
  const large = await measureCreation(stack, instanceIdsFor('llarge', options.instances), concurrency);

  const largeLatency: number[] = [];
  const smallLatency: number[] = [];
  const warm: (number | null)[] = workerTraces.map(() => null);
  const deadline = Date.now() + options.timeoutMs;
  let lastReport = Date.now();
  for (;;) {
    const { ms, view } = await getRollout(stack, large.id);
    largeLatency.push(ms);
    smallLatency.push((await getRollout(stack, small.id)).ms);
    const done = (view.counts.succeeded ?? 0) + (view.counts.failed ?? 0) + (view.counts.cancelled ?? 0);
    if (done >= options.instances * 0.1) workerTraces.forEach((w, i) => (warm[i] ??= w.trace.latest()));
    if (view.status === 'completed' || view.status === 'cancelled') break;
    if (Date.now() > deadline)
      throw new Error(
        `the ${options.instances}-instance rollout did not finish within ${options.timeoutMs} ms (${done} done)`,
      );
    if (Date.now() - lastReport > 10_000) {
      log(`    ${done.toLocaleString('en-US')} / ${options.instances.toLocaleString('en-US')} done`);
      lastReport = Date.now();
    }
    await sleep(options.statusGapMs);
  }
  await waitForRolloutDone(stack, large.id, options.timeoutMs);
  const traces = await Promise.all(workerTraces.map((w) => w.trace.stop()));
  const facts = await rolloutFacts(stack, large.id);
  const stats = await simStats(stack);
  const seconds = (facts.finishedAtMs! - large.requestStartedAtMs) / 1000;
  const throughput = options.instances / seconds;

  log(`  a second ${options.instances.toLocaleString('en-US')}-instance rollout on the same worker process(es)`);
  const second = await createRollout(stack, instanceIdsFor('llarge2', options.instances), concurrency);
  await waitForRolloutDone(stack, second.id, options.timeoutMs);
  const afterSecond = await Promise.all(workerTraces.map(async (w) => (await readProcessMemory(w.pid))?.rssBytes ?? 0));

  const largeSummary = summarize(largeLatency);
  const smallSummary = summarize(smallLatency);
  return {
    smallInstances: options.smallInstances,
    concurrency,
    latencyMs,
    creation: [mid.facts, large.facts],
    singleInserts: singleInsertFacts(options, single),
    statusLatency: {
      large: largeSummary,
      smallSameTime: smallSummary,
      smallIdle: summarize(idle),
      ratioP50: largeSummary.p50Ms / smallSummary.p50Ms,
      ratioP99: largeSummary.p99Ms / smallSummary.p99Ms,
    },
    workerMemory: workerTraces.map((w, i) => {
      const trace = traces[i]!;
      const start = workerStart[i] || trace.firstRssBytes;
      const warmRss = warm[i] ?? null;
      return {
        worker: w.worker,
        startRssBytes: start,
        warmRssBytes: warmRss,
        peakRssBytes: trace.peakRssBytes,
        endRssBytes: trace.lastRssBytes,
        hwmBytes: trace.hwmBytes,
        growthFromStart: (trace.lastRssBytes - start) / start,
        growthFromWarm: warmRss ? (trace.lastRssBytes - warmRss) / warmRss : null,
        afterSecondRssBytes: afterSecond[i]!,
        growthOverSecond: (afterSecond[i]! - trace.lastRssBytes) / trace.lastRssBytes,
      };
    }),
    run: {
      instances: options.instances,
      seconds,
      throughput,
      efficiency: throughput / (concurrency / (latencyMs / 1000)),
      allRecorded:
        facts.attempts === options.instances &&
        facts.attemptsAnswered === options.instances &&
        facts.succeeded === options.instances,
      limits: limitFacts(stats, concurrency),
    },
  };
}

/** The one-row-at-a-time baseline of creation, measured on a sample and extrapolated to the large rollout. */
function singleInsertFacts(
  options: { singleInsertSample: number; instances: number },
  single: { seconds: number; perSecond: number },
) {
  return {
    measured: options.singleInsertSample,
    seconds: single.seconds,
    perSecond: single.perSecond,
    extrapolatedSecondsFor: options.instances,
    extrapolatedSeconds: options.instances / single.perSecond,
  };
}
