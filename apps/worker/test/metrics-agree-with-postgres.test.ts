/**
 * The worker's counters are the database's: after a rollout with faults (500s, throttling, permanent failures)
 * worked by two worker pools, each counting into a registry of its own and scraped over HTTP as Prometheus would,
 * the calls summed over both equal the attempt rows that have an answer (per outcome class), the throttled calls
 * the rows CloudMonitor throttled, and the finished instances per state the instances' final states.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { MetricsServer } from '@fleet/metrics';
import { createMetricsServer } from '@fleet/metrics';
import type { MetricSample } from '@fleet/testing';
import { freePort, instanceIds, scrapeMetrics, sumSamples } from '@fleet/testing';
import type { WorkerHarness } from './support.ts';
import { USER_ID, harnessWorkerMetrics, startHarness } from './support.ts';
import { MAX_START_RETAKES } from '../src/install-call.ts';

let h: WorkerHarness | undefined;
const servers: MetricsServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.stop()));
  await h?.close();
  h = undefined;
});

/** A worker's registry and metrics, served on a port of its own, as the worker's main.ts does. */
async function servedWorkerMetrics(harness: WorkerHarness) {
  const { registry, metrics } = harnessWorkerMetrics(harness);
  const server = createMetricsServer({ registry, port: await freePort(), host: '127.0.0.1' });
  servers.push(server);
  const port = await server.start();
  return { metrics, url: `http://127.0.0.1:${port}/metrics` };
}

describe('worker metrics against Postgres', () => {
  it('after a rollout with faults through two workers, the scraped counters equal the rows', async () => {
    h = await startHarness({ latencyMs: 5, errorRate500: 0.2, throttleQps: 30, failureRate: 0.1, notFoundRate: 0.1 });
    const ids = instanceIds(120, 'i-m');
    const rolloutId = await h.createRollout(ids, {
      concurrency: 20,
      retry: { maxAttempts: 4, baseDelayMs: 10, maxDelayMs: 40 },
    });
    const workers = [await servedWorkerMetrics(h), await servedWorkerMetrics(h)];
    for (const worker of workers) await h.startPool({ metrics: worker.metrics });
    await h.waitForRolloutStatus(rolloutId, 'completed', 90_000);

    const scrapes: MetricSample[][] = await Promise.all(workers.map((w) => scrapeMetrics(w.url)));
    const total = (name: string, labels: Record<string, string> = {}) =>
      scrapes.reduce((sum, samples) => sum + sumSamples(samples, name, labels), 0);

    const attempts = await h.db.prisma.installAttempt.groupBy({
      by: ['outcome'],
      where: { rolloutId, finishedAt: { not: null } },
      _count: true,
    });
    const answered = attempts.reduce((sum, a) => sum + a._count, 0);
    expect(answered).toBeGreaterThan(ids.length);
    expect(total('fleet_install_calls_total')).toBe(answered);
    for (const outcome of ['success', 'retryable', 'final'])
      expect(total('fleet_install_calls_total', { outcome }), outcome).toBe(
        attempts.find((a) => a.outcome === outcome)?._count ?? 0,
      );
    // Each call's duration was observed once.
    expect(total('fleet_install_call_duration_seconds_count')).toBe(answered);

    const throttledRows = await h.db.prisma.installAttempt.count({ where: { rolloutId, outcomeKind: 'throttled' } });
    expect(throttledRows).toBeGreaterThan(0);
    expect(total('fleet_throttled_total', { user_id: USER_ID })).toBe(throttledRows);

    const states = await h.db.prisma.rolloutInstance.groupBy({ by: ['state'], where: { rolloutId }, _count: true });
    for (const state of ['succeeded', 'failed', 'cancelled'])
      expect(total('fleet_instances_finished_total', { state }), state).toBe(
        states.find((s) => s.state === state)?._count ?? 0,
      );
    expect(total('fleet_instances_finished_total')).toBe(ids.length);

    // Each call reached its start once, and each start it retook once more (at most MAX_START_RETAKES of them).
    const retakes = total('fleet_call_start_retakes_total');
    expect(total('fleet_call_start_lateness_seconds_count')).toBe(answered + retakes);
    expect(retakes).toBeLessThanOrEqual(answered * MAX_START_RETAKES);

    // Every claim and answer went through a group-commit batch: at least one write per attempt row and per answer.
    expect(total('fleet_write_batch_size_sum')).toBeGreaterThanOrEqual(answered * 2);
    expect(total('fleet_write_batch_size_count')).toBeGreaterThan(0);
    // The limits as Redis has them now: the account's adapted rate (throttling halved it), no call in flight.
    const rate = sumSamples(scrapes[0]!, 'fleet_account_rate_limit_rps', { user_id: USER_ID });
    expect(rate).toBeGreaterThan(0);
    expect(rate).toBeLessThan(100_000);
    expect(sumSamples(scrapes[0]!, 'fleet_global_slots_in_use')).toBe(0);
  });
});
