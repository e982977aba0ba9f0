/**
 * Measurements 1, 2 and 6: one workload (N instances, concurrency C, simulator latency L) run three ways in the same
 * invocation, one after the other against the same simulator:
 *   plain  a plain concurrency-limited loop of signed calls (baselines/plain-loop.ts)
 *   bare   a bare BullMQ worker doing only the call (baselines/bare-bullmq.ts), jobs enqueued like the product does
 *   ours   the product: POST /v1/rollouts to the API, worker process(es) claim, call, record
 * Throughput is instances finished per second from the first request (or the enqueue) to the last answer recorded;
 * efficiency is throughput / (C / L), the rate C calls of L ms each could reach. The simulator's maxInFlight of each
 * run shows the limit held.
 */
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Logger } from '@fleet/logger';
import { enqueueInstallJobs, installQueueName, openInstallQueue } from '@fleet/queue';
import { baselineEnvVars, instanceIdsFor } from './baselines/baseline-env.ts';
import type { CpuMeter, CpuPerInstance } from './cpu.ts';
import {
  createRollout,
  limitFacts,
  prepareSimulator,
  rolloutFacts,
  simStats,
  waitForEnqueued,
  waitForRolloutDone,
} from './clients.ts';
import type { CreatedRollout } from './clients.ts';
import type { ChildScript, MemoryTrace } from './processes.ts';
import { sleep, traceMemory } from './processes.ts';
import type { BenchStack } from './stack.ts';
import { spawnBaseline } from './stack.ts';

export type Variant = 'plain' | 'bare' | 'ours';

export type ThroughputRun = {
  variant: Variant;
  concurrency: number;
  latencyMs: number;
  instances: number;
  /** From the first request (ours: the POST; bare: the first addBulk; plain: the first call) to the last answer. */
  seconds: number;
  throughput: number;
  /** throughput / (C / L) */
  efficiency: number;
  /** Instances per second between 10% and 90% finished: the rate once running, without start-up and tail. */
  steadyThroughput: number | null;
  /** Seconds until the first instance finished (start-up: for ours, the POST, rollout discovery and first claim). */
  firstFinishSeconds: number | null;
  limits: ReturnType<typeof limitFacts>;
  /** ours: every call has its attempt row with the answer, and every instance succeeded. */
  recorded?: { attempts: number; attemptsAnswered: number; succeeded: number; allRecorded: boolean };
  /** ours: POST /v1/rollouts time to 202, ms. */
  msTo202?: number;
  /** ours: peak RSS of the API process during the POST, and before it (bytes). */
  apiRss?: { beforeBytes: number; peakBytes: number };
  /**
   * CPU milliseconds per instance, by process: the one doing the calls (plain loop, bare worker, our workers), the
   * API (ours) or the bench's own enqueue (bare), the simulator, the Postgres backends of the bench database and the
   * Redis server (Redis counts anyone's use).
   */
  cpuMsPerInstance: CpuPerInstance;
};

export type ThroughputContext = {
  stack: BenchStack;
  redis: Redis;
  logger: Logger;
  cpu: CpuMeter;
  timeoutMs: number;
  log: (line: string) => void;
};

const rate = (count: number, fromMs: number | null, toMs: number | null) =>
  fromMs !== null && toMs !== null && toMs > fromMs ? count / ((toMs - fromMs) / 1000) : null;
/** Instances per second between 10% and 90% of `instances` finished. */
const steadyRate = (instances: number, p10AtMs: number | null, p90AtMs: number | null) =>
  rate(Math.ceil(instances * 0.9) - Math.ceil(instances * 0.1), p10AtMs, p90AtMs);

function finish(
  run: Omit<ThroughputRun, 'throughput' | 'efficiency' | 'seconds'>,
  startMs: number,
  endMs: number,
): ThroughputRun {
  const seconds = (endMs - startMs) / 1000;
  const throughput = run.instances / seconds;
  return { ...run, seconds, throughput, efficiency: throughput / (run.concurrency / (run.latencyMs / 1000)) };
}

async function awaitResult<T>(
  child: ChildScript,
  has: (line: Record<string, unknown>) => boolean,
  timeoutMs: number,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const line = child.jsonLines().find((l) => has(l as Record<string, unknown>));
    if (line) return line as T;
    if (child.child.exitCode !== null)
      throw new Error(
        `${child.label} exited (${child.child.exitCode}) without a result\n${child.output().slice(-4000)}`,
      );
    if (Date.now() > deadline)
      throw new Error(`${child.label}: no result within ${timeoutMs} ms\n${child.output().slice(-4000)}`);
    await sleep(20);
  }
}

function baselineEnv(
  ctx: ThroughputContext,
  concurrency: number,
  instances: number,
  idPrefix: string,
  queueName: string,
) {
  const { stack } = ctx;
  return baselineEnvVars({
    simUrl: stack.simUrl,
    accessKeyId: stack.accessKeyId,
    accessKeySecret: stack.accessKeySecret,
    userId: stack.userId,
    concurrency,
    instanceCount: instances,
    idPrefix,
    redisUrl: stack.redisUrl,
    queuePrefix: stack.queuePrefix,
    queueName,
  });
}

async function runPlain(
  ctx: ThroughputContext,
  concurrency: number,
  latencyMs: number,
  instances: number,
  idPrefix: string,
): Promise<ThroughputRun> {
  await prepareSimulator(ctx.stack, latencyMs);
  const cpu = await ctx.cpu.start([{ label: 'simulator', pid: ctx.stack.simulator.pid }]);
  const child = spawnBaseline('plain-loop', baselineEnv(ctx, concurrency, instances, idPrefix, 'unused'));
  try {
    const result = await awaitResult<{
      startedAtMs: number;
      finishedAtMs: number;
      p10AtMs: number;
      p90AtMs: number;
      completed: number;
      cpuSeconds: number;
    }>(child, (l) => 'finishedAtMs' in l, ctx.timeoutMs);
    const cpuMsPerInstance = { caller: (result.cpuSeconds * 1000) / instances, ...(await cpu.stop(instances)) };
    const stats = await simStats(ctx.stack);
    return finish(
      {
        variant: 'plain',
        concurrency,
        latencyMs,
        instances,
        steadyThroughput: steadyRate(instances, result.p10AtMs, result.p90AtMs),
        firstFinishSeconds: null,
        limits: limitFacts(stats, concurrency),
        cpuMsPerInstance,
      },
      result.startedAtMs,
      result.finishedAtMs,
    );
  } finally {
    await child.stop();
  }
}

async function runBare(
  ctx: ThroughputContext,
  concurrency: number,
  latencyMs: number,
  instances: number,
  idPrefix: string,
): Promise<ThroughputRun> {
  await prepareSimulator(ctx.stack, latencyMs);
  const rolloutId = randomUUID();
  const child = spawnBaseline(
    'bare-bullmq',
    baselineEnv(ctx, concurrency, instances, idPrefix, installQueueName(rolloutId)),
  );
  const queue = openInstallQueue(ctx.redis, rolloutId, ctx.stack.queuePrefix, ctx.logger);
  try {
    await awaitResult(child, (l) => l.ready === true, 60_000);
    const ids = instanceIdsFor(idPrefix, instances);
    const cpu = await ctx.cpu.start([{ label: 'simulator', pid: ctx.stack.simulator.pid }]);
    const startMs = Date.now();
    const enqueueCpuBefore = process.cpuUsage();
    await enqueueInstallJobs(queue, {
      rolloutId,
      concurrency,
      instances: ids.map((instanceId, i) => ({ id: BigInt(i + 1), instanceId })),
    });
    const enqueueCpu = process.cpuUsage(enqueueCpuBefore);
    const result = await awaitResult<{
      firstCompletedAtMs: number;
      p10AtMs: number;
      p90AtMs: number;
      lastCompletedAtMs: number;
      cpuSeconds: number;
    }>(child, (l) => 'lastCompletedAtMs' in l, ctx.timeoutMs);
    // The bench process enqueued the jobs, as the API does for ours (counted there as `api`): its CPU while it did
    // is this run's `enqueue`.
    const cpuMsPerInstance = {
      caller: (result.cpuSeconds * 1000) / instances,
      enqueue: (enqueueCpu.user + enqueueCpu.system) / 1000 / instances,
      ...(await cpu.stop(instances)),
    };
    const stats = await simStats(ctx.stack);
    return finish(
      {
        variant: 'bare',
        concurrency,
        latencyMs,
        instances,
        steadyThroughput: steadyRate(instances, result.p10AtMs, result.p90AtMs),
        firstFinishSeconds: (result.firstCompletedAtMs - startMs) / 1000,
        limits: limitFacts(stats, concurrency),
        cpuMsPerInstance,
      },
      startMs,
      result.lastCompletedAtMs,
    );
  } finally {
    await child.stop();
    await queue.obliterate({ force: true }).catch(() => undefined);
    await queue.close();
  }
}

export async function runOurs(
  ctx: ThroughputContext,
  concurrency: number,
  latencyMs: number,
  instances: number,
  idPrefix: string,
): Promise<ThroughputRun> {
  const { stack } = ctx;
  await prepareSimulator(stack, latencyMs);
  const ids = instanceIdsFor(idPrefix, instances);
  const cpu = await ctx.cpu.start([
    ...stack.workers().map((w) => ({ label: 'caller', pid: w.pid })),
    { label: 'api', pid: stack.api().pid },
    { label: 'simulator', pid: stack.simulator.pid },
  ]);
  const apiMemory = traceMemory(stack.api().pid, 50);
  let created: CreatedRollout;
  let apiTrace: MemoryTrace;
  try {
    created = await createRollout(stack, ids, concurrency);
    await waitForEnqueued(stack, created.id, ctx.timeoutMs);
  } finally {
    apiTrace = await apiMemory.stop();
  }
  await waitForRolloutDone(stack, created.id, ctx.timeoutMs);
  const cpuMsPerInstance = await cpu.stop(instances);
  const facts = await rolloutFacts(stack, created.id);
  const stats = await simStats(stack);
  const allRecorded =
    facts.attempts === instances && facts.attemptsAnswered === instances && facts.succeeded === instances;
  if (!allRecorded)
    ctx.log(
      `  WARNING: ${created.id}: ${facts.succeeded} succeeded, ${facts.attemptsAnswered}/${facts.attempts} attempts answered, of ${instances}`,
    );
  return finish(
    {
      variant: 'ours',
      concurrency,
      latencyMs,
      instances,
      steadyThroughput: steadyRate(instances, facts.p10FinishedAtMs, facts.p90FinishedAtMs),
      firstFinishSeconds:
        facts.firstInstanceFinishedAtMs === null
          ? null
          : (facts.firstInstanceFinishedAtMs - created.requestStartedAtMs) / 1000,
      limits: limitFacts(stats, concurrency),
      recorded: {
        attempts: facts.attempts,
        attemptsAnswered: facts.attemptsAnswered,
        succeeded: facts.succeeded,
        allRecorded,
      },
      msTo202: created.msTo202,
      apiRss: { beforeBytes: apiTrace.firstRssBytes, peakBytes: apiTrace.peakRssBytes },
      cpuMsPerInstance,
    },
    created.requestStartedAtMs,
    facts.finishedAtMs!,
  );
}

export const runners: Record<Variant, typeof runOurs> = { plain: runPlain, bare: runBare, ours: runOurs };
