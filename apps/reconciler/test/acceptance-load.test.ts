/**
 * Acceptance: load on the API during a large rollout (issue 23). A 20,000-instance rollout runs through the real API,
 * two workers, the reconciler and the simulator, on a private redis-server; from the rollout's 202 until it has
 * completed, 50 clients poll its status, a page of its instance list (walking the cursor) and its failure report in
 * turn, once a second each, and 5 clients each create a 10-instance rollout once a second: the reads bench's clients
 * (`npm run bench -- --only reads`, @fleet/testing's rollout-load.ts).
 *
 * What must hold: no answer is a 5xx (nor anything but 200/304 for a read and 202 for a creation), every request is
 * answered, every poller is answered in every quarter of the run, and the large rollout and every created one complete
 * with their attempt rows equal to the simulator's calls. Read latency (p50/p99) is printed, never asserted: how fast
 * is the bench's question, and a test's timing on a shared machine says more about the machine.
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { instanceIds, pollRolloutReads, postRollouts, summarizeLatency, uniquePrefix, waitFor } from '@fleet/testing';
import type { LoadClientOptions, LoadSample, RolloutReadSample } from '@fleet/testing';
import type { FaultDeployment } from './fault-deployment.ts';
import { startFaultDeployment } from './fault-deployment.ts';
import type { PrivateRedis } from './support.ts';
import { expectEveryCallOneAttemptRow, startPrivateRedis, USER_ID } from './support.ts';

const SEED = 'load-seed';
const FAILURE_RATE = 0.05;
const INSTANCES = 20_000;
const CONCURRENCY = 200;
const POLLERS = 50;
const CREATORS = 5;
const INTERVAL_MS = 1000;
const CREATED_INSTANCES = 10;
/**
 * A request still unanswered after this counts as unanswered (status 0) and fails the test, rather than leaving a
 * poller hanging. Not a latency bound: a read takes well under a second when the machine is not overloaded.
 */
const REQUEST_TIMEOUT_MS = 30_000;

let redis: PrivateRedis;
let deployment: FaultDeployment;

beforeAll(async () => {
  redis = await startPrivateRedis();
  deployment = await startFaultDeployment({
    label: 'load',
    prefix: uniquePrefix('load'),
    redisEnv: { REDIS_URL: redis.url },
    seed: SEED,
    failureRate: FAILURE_RATE,
    concurrency: CONCURRENCY,
    // The simulator's latency is not what is under test: 5 ms keeps the 20,000 calls short on two cores.
    simulatorLatencyMs: 5,
    // All 55 clients use the one admin key, whose per-key limit (600 a minute) would answer them 429: the limit has
    // tests of its own (apps/api), and here it would only hide whether the reads are answered.
    env: { API_RATE_LIMIT_PER_MINUTE: '0' },
  });
}, 90_000);

afterAll(async () => {
  await deployment?.close();
  await redis?.stop();
});

/** The answers' statuses and how many of each, e.g. `{ "200": 812, "304": 40 }`. */
function statusCounts(samples: readonly LoadSample[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const s of samples) counts[s.status] = (counts[s.status] ?? 0) + 1;
  return counts;
}

function latencyLine(what: string, samples: readonly LoadSample[]): string {
  const figures = summarizeLatency(samples.filter((s) => s.status !== 0).map((s) => s.ms));
  return `${what} ${figures.samples} answered, p50 ${figures.p50Ms.toFixed(0)} ms, p99 ${figures.p99Ms.toFixed(0)} ms`;
}

describe('50 pollers and 5 creators during a 20,000-instance rollout', () => {
  it('no 5xx, every request answered, every poller answered throughout; every rollout completes, calls = attempt rows', async () => {
    const { apiUrl, adminKey, db, simulator } = deployment;
    const byPoller: RolloutReadSample[][] = Array.from({ length: POLLERS }, () => []);
    const creates: (LoadSample & { rolloutId: string | null })[] = [];
    const ids = instanceIds(INSTANCES, 'i-load');
    const { rolloutId } = await deployment.createRollout(ids);
    const originMs = performance.now();
    let running = true;
    const common: Omit<LoadClientOptions, 'intervalMs'> = {
      apiUrl,
      apiKey: adminKey,
      originMs,
      running: () => running,
      requestTimeoutMs: REQUEST_TIMEOUT_MS,
    };
    const clients = [
      // Spread over the interval, and over the three reads, as the bench starts them.
      ...byPoller.map((mine, i) =>
        sleep((INTERVAL_MS * i) / POLLERS).then(() =>
          pollRolloutReads({ ...common, intervalMs: INTERVAL_MS, rolloutId, listLimit: 100, firstTurn: i }, (sample) =>
            mine.push(sample),
          ),
        ),
      ),
      ...Array.from({ length: CREATORS }, (_, i) =>
        postRollouts(
          {
            ...common,
            intervalMs: INTERVAL_MS,
            userId: USER_ID,
            // Not forced, as the large one: a call retried after a timeout (a worker starved of CPU past
            // CMS_TIMEOUT_MS) then finds the agent installed instead of installing it again, which the checks below
            // would take for a second install.
            force: false,
            concurrency: 10,
            instanceIds: (n) => instanceIds(CREATED_INSTANCES, `i-ldc${i}n${n}x`),
          },
          (sample) => creates.push(sample),
        ),
      ),
    ];
    let loadMs: number;
    try {
      await waitFor(
        'the 20,000-instance rollout completed',
        async () => (await db.prisma.rollout.findUniqueOrThrow({ where: { id: rolloutId } })).status === 'completed',
        { timeoutMs: 180_000, intervalMs: 250 },
      );
    } finally {
      // The load ends with the rollout, before the checks: the simulator and the clients share this process, and
      // checking 20,000 instances keeps it busy for seconds (calls would time out, reads look slow, for our sake).
      // The clients start no request after this (each finishes the one it has under way).
      loadMs = performance.now() - originMs;
      running = false;
      await Promise.all(clients);
    }
    const allReads = byPoller.flat();

    const reads = (kind: RolloutReadSample['kind']) =>
      latencyLine(
        kind,
        allReads.filter((s) => s.kind === kind),
      );
    process.stdout.write(
      `load acceptance: ${(loadMs / 1000).toFixed(1)} s of load; ${reads('status')}; ${reads('list')}; ` +
        `${reads('report')}; ${latencyLine('create', creates)}; reads ${JSON.stringify(statusCounts(allReads))}, ` +
        `creates ${JSON.stringify(statusCounts(creates))}\n`,
    );

    // No 5xx and no request without an answer, of any client; and nothing but what a read or a creation answers.
    const everyRequest = [...allReads, ...creates];
    expect(everyRequest.filter((s) => s.status >= 500)).toEqual([]);
    expect(everyRequest.filter((s) => s.status === 0)).toEqual([]);
    expect(Object.keys(statusCounts(allReads)).filter((status) => status !== '200' && status !== '304')).toEqual([]);
    expect(Object.keys(statusCounts(creates))).toEqual(['202']);

    // Every poller was answered in each quarter of the run: reads stayed answered throughout, not only at the ends.
    const quarter = loadMs / 4;
    for (const [poller, mine] of byPoller.entries())
      for (let q = 0; q < 4; q++) {
        const from = q * quarter;
        const answered = mine.filter((s) => s.atMs >= from && s.atMs < from + quarter && s.status !== 0);
        expect(answered.length, `poller ${poller}, quarter ${q + 1}`).toBeGreaterThan(0);
      }
    expect(creates.length).toBeGreaterThanOrEqual(CREATORS * 4);

    // The large rollout and every one the creators made complete with calls = attempt rows.
    const created = creates.map((c) => c.rolloutId!);
    await waitFor(
      `the ${created.length} created rollouts completed`,
      async () =>
        (await db.prisma.rollout.count({ where: { id: { in: created }, status: 'completed' } })) === created.length,
      { timeoutMs: 60_000, intervalMs: 250 },
    );
    await expectEveryCallOneAttemptRow(db, simulator, rolloutId, {
      seed: SEED,
      failureRate: FAILURE_RATE,
      instances: INSTANCES,
    });
    for (const createdId of created)
      await expectEveryCallOneAttemptRow(db, simulator, createdId, {
        seed: SEED,
        failureRate: FAILURE_RATE,
        instances: CREATED_INSTANCES,
      });
    deployment.expectProcessesRunning();
  }, 240_000);

  it('every process stops on SIGTERM with exit code 0 afterwards', async () => {
    expect(await Promise.all(deployment.processes.map((p) => p.stop('SIGTERM')))).toEqual([0, 0, 0, 0]);
  });
});
