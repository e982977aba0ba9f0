import { afterEach, describe, expect, it } from 'vitest';
import { freePort } from '@fleet/testing';
import { createMetricsRegistry, createMetricsServer, createWorkerMetrics, hasBearerToken } from '../src/index.ts';
import type { MetricsServer } from '../src/index.ts';

let server: MetricsServer | undefined;
afterEach(async () => {
  await server?.stop();
  server = undefined;
});

describe('createMetricsServer', () => {
  it('serves the registry with the default Node metrics at /metrics, and nothing elsewhere', async () => {
    const registry = createMetricsRegistry();
    const metrics = createWorkerMetrics(registry, {
      accountRate: async () => 7.5,
      globalSlotsInUse: async () => 3,
      databaseClock: () => ({ offsetMs: -1.5, roundTripMs: 0.25 }),
    });
    metrics.callRecorded({ userId: 'u1', outcome: 'retryable', throttled: true, durationMs: 40 });
    server = createMetricsServer({ registry, port: await freePort(), host: '127.0.0.1' });
    const port = await server.start();

    const res = await fetch(`http://127.0.0.1:${port}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/plain');
    const text = await res.text();
    expect(text).toMatch(/^nodejs_eventloop_lag_seconds \d/m);
    expect(text).toMatch(/^process_cpu_seconds_total \d/m);
    expect(text).toContain('fleet_install_calls_total{outcome="retryable"} 1');
    expect(text).toContain('fleet_install_calls_total{outcome="success"} 0');
    expect(text).toContain('fleet_throttled_total{user_id="u1"} 1');
    expect(text).toContain('fleet_account_rate_limit_rps{user_id="u1"} 7.5');
    expect(text).toContain('fleet_global_slots_in_use 3');
    expect(text).toContain('fleet_database_clock_offset_seconds -0.0015');
    expect(text).toContain('fleet_database_clock_round_trip_seconds 0.00025');
    expect(text).toContain('fleet_install_call_duration_seconds_bucket{le="0.05"} 1');

    expect((await fetch(`http://127.0.0.1:${port}/other`)).status).toBe(404);
    expect((await fetch(`http://127.0.0.1:${port}/metrics`, { method: 'POST' })).status).toBe(405);
  });

  it('answers 500 without the metrics when a source fails, and goes on serving after', async () => {
    const registry = createMetricsRegistry();
    let fail = true;
    createWorkerMetrics(registry, {
      accountRate: async () => 1,
      globalSlotsInUse: async () => {
        if (fail) throw new Error('redis down');
        return 0;
      },
    });
    const errors: unknown[] = [];
    server = createMetricsServer({
      registry,
      port: await freePort(),
      host: '127.0.0.1',
      onError: (e) => errors.push(e),
    });
    const port = await server.start();
    const failed = await fetch(`http://127.0.0.1:${port}/metrics`);
    expect(failed.status).toBe(500);
    expect(await failed.text()).not.toContain('fleet_');
    expect(errors).toHaveLength(1);
    fail = false;
    expect((await fetch(`http://127.0.0.1:${port}/metrics`)).status).toBe(200);
  });

  it('stops listening on stop, twice without harm', async () => {
    const port = await freePort();
    server = createMetricsServer({ registry: createMetricsRegistry(), port, host: '127.0.0.1' });
    await server.start();
    await server.stop();
    await server.stop();
    await expect(fetch(`http://127.0.0.1:${port}/metrics`)).rejects.toThrow();
  });

  it('two registries in one process count apart', () => {
    const a = createMetricsRegistry();
    const b = createMetricsRegistry();
    const sources = { accountRate: async () => 1, globalSlotsInUse: async () => 0 };
    createWorkerMetrics(a, sources).instanceFinished('failed');
    createWorkerMetrics(b, sources);
    return Promise.all([a.metrics(), b.metrics()]).then(([textA, textB]) => {
      expect(textA).toContain('fleet_instances_finished_total{state="failed"} 1');
      expect(textB).toContain('fleet_instances_finished_total{state="failed"} 0');
    });
  });
});

describe('hasBearerToken', () => {
  it('accepts exactly Bearer <token>', () => {
    expect(hasBearerToken('Bearer s3cret-token', 's3cret-token')).toBe(true);
    expect(hasBearerToken('bearer s3cret-token', 's3cret-token')).toBe(true);
    expect(hasBearerToken('Bearer s3cret-tokeN', 's3cret-token')).toBe(false);
    expect(hasBearerToken('Bearer s3cret', 's3cret-token')).toBe(false);
    expect(hasBearerToken('s3cret-token', 's3cret-token')).toBe(false);
    expect(hasBearerToken('Basic s3cret-token', 's3cret-token')).toBe(false);
    expect(hasBearerToken(undefined, 's3cret-token')).toBe(false);
  });
});
