/**
 * The whole product as separate processes, as `npm start` runs it: simulator, API and two worker processes, each
 * its real main.ts. A rollout goes in over REST and is read back over REST.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isFailingInstance } from '@fleet/cms-simulator';
import { createDatabase } from '@fleet/db';
import type { Database } from '@fleet/db';
import {
  createTestDatabase,
  deleteKeysWithPrefix,
  freePort,
  localAppsEnv,
  scrapeMetrics,
  spawnApp,
  sumSamples,
  uniquePrefix,
  waitForHttpOk,
} from '@fleet/testing';
import type { AppProcess, TestDatabase } from '@fleet/testing';
import { holdsCapSysNice, niceOfThreads } from '@fleet/thread-priority';

const SECRET = 'e2e-secret-value-7Hq2';
const KEY_ID = 'LTAIe2ekey00000001';
const SEED = 'e2e-seed';
/** The API's bootstrap admin key (FLEET_ADMIN_API_KEY); every /v1 call sends it. */
const ADMIN_KEY = `flt_e2e_${'k'.repeat(40)}`;
const auth = { authorization: `Bearer ${ADMIN_KEY}` };
/** The API's METRICS_TOKEN: its /metrics needs it. */
const METRICS_TOKEN = 'e2e-metrics-token-4Rt9Wq';

let testDb: TestDatabase;
let db: Database;
const prefix = uniquePrefix('e2e');
const processes: AppProcess[] = [];
let apiUrl: string;
let simUrl: string;
let env: Record<string, string>;
/** Each worker process's /metrics. */
let workerMetricsUrls: string[];

beforeAll(async () => {
  testDb = await createTestDatabase();
  db = createDatabase({ url: testDb.url, poolMax: 3 });
  const local = await localAppsEnv({ databaseUrl: testDb.url, prefix });
  ({ apiUrl, simulatorUrl: simUrl } = local);
  env = {
    ...local.env,
    SIM_LATENCY_MS: '20',
    SIM_FAILURE_RATE: '0.05',
    SIM_SEED: SEED,
    CMS_ACCESS_KEY_ID: KEY_ID,
    CMS_ACCESS_KEY_SECRET: SECRET,
    FLEET_ADMIN_API_KEY: ADMIN_KEY,
    ROLLOUT_POLL_MS: '200',
    // Each process may run only half the rollout's limit, so both must take part to reach it.
    WORKER_CONCURRENCY: '10',
    LOG_LEVEL: 'debug',
    METRICS_TOKEN,
  };
  const metricsPorts = [await freePort(), await freePort()];
  workerMetricsUrls = metricsPorts.map((port) => `http://127.0.0.1:${port}/metrics`);
  processes.push(
    spawnApp('simulator', env),
    spawnApp('api', env),
    ...metricsPorts.map((port) => spawnApp('worker', { ...env, METRICS_PORT: String(port) })),
  );
  await waitForHttpOk('the simulator', `${simUrl}_sim/stats`);
  await waitForHttpOk('the API to be ready', `${apiUrl}/readyz`);
}, 90_000);

afterAll(async () => {
  await Promise.all(processes.map((p) => p.kill()));
  await deleteKeysWithPrefix(prefix);
  await db.close();
  await testDb.drop();
});

describe('the product end to end, with two worker processes', () => {
  it('runs 1,000 instances at concurrency 20 to completed; failures are the simulator failing ones; limit held; secret never logged', async () => {
    await fetch(`${simUrl}_sim/reset`, { method: 'POST' });
    const ids = Array.from({ length: 1000 }, (_, i) => `i-e2e${i.toString(36).padStart(5, '0')}`);
    const created = await fetch(`${apiUrl}/v1/rollouts`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...auth },
      body: JSON.stringify({ userId: '1234567898765432', instanceIds: ids, force: true, concurrency: 20 }),
    });
    expect(created.status).toBe(202);
    const location = created.headers.get('location')!;
    let status: { status: string };
    const deadline = Date.now() + 120_000;
    do {
      await new Promise((r) => setTimeout(r, 250));
      status = (await (await fetch(apiUrl + location, { headers: auth })).json()) as typeof status;
    } while (status.status !== 'completed' && Date.now() < deadline);

    const expectedFailed = ids.filter((id) => isFailingInstance(SEED, id, 0.05));
    expect(status).toMatchObject({
      status: 'completed',
      counts: {
        total: 1000,
        pending: 0,
        in_progress: 0,
        succeeded: 1000 - expectedFailed.length,
        failed: expectedFailed.length,
        cancelled: 0,
      },
    });

    const failedIds: string[] = [];
    let cursor: string | null = null;
    do {
      const page = (await (
        await fetch(`${apiUrl}${location}/instances?state=failed&limit=500${cursor ? `&cursor=${cursor}` : ''}`, {
          headers: auth,
        })
      ).json()) as { items: { instanceId: string }[]; nextCursor: string | null };
      failedIds.push(...page.items.map((i) => i.instanceId));
      cursor = page.nextCursor;
    } while (cursor);
    expect(failedIds.sort()).toEqual([...expectedFailed].sort());

    const rolloutId = location.split('/').pop()!;
    const withoutRequestId = await db.prisma.rolloutInstance.count({
      where: { rolloutId, attempts: { none: { requestId: { not: null } } } },
    });
    expect(withoutRequestId).toBe(0);
    expect(await db.prisma.installAttempt.count({ where: { rolloutId } })).toBe(1000);

    const detail = (await (
      await fetch(`${apiUrl}${location}/instances/${expectedFailed[0]}`, { headers: auth })
    ).json()) as { attempts: { requestId: string | null }[] };
    expect(detail).toMatchObject({
      state: 'failed',
      needsManualInstall: true,
      manualInstallReason: 'no_server_guard_agent',
    });
    expect(detail.attempts[0]!.requestId).toMatch(/^[0-9A-F-]{36}$/i);

    const stats = (await (await fetch(`${simUrl}_sim/stats`)).json()) as {
      requests: number;
      maxInFlight: number;
      callsByInstance: Record<string, number>;
    };
    expect(stats.requests).toBe(1000);
    expect(stats.maxInFlight).toBeLessThanOrEqual(20);
    expect(Object.values(stats.callsByInstance).every((n) => n === 1)).toBe(true);
    // both worker processes took part
    const workers = await db.prisma.installAttempt.groupBy({ by: ['workerId'], where: { rolloutId }, _count: true });
    expect(workers.length).toBe(2);

    // Each worker process's /metrics counted its own calls; together they are the attempt rows, per outcome.
    const scrapes = await Promise.all(workerMetricsUrls.map((url) => scrapeMetrics(url)));
    const calls = (outcome: string) => scrapes.map((s) => sumSamples(s, 'fleet_install_calls_total', { outcome }));
    expect(calls('success').every((n) => n > 0)).toBe(true);
    expect(calls('success').reduce((a, b) => a + b) + calls('final').reduce((a, b) => a + b)).toBe(1000);
    expect(calls('final').reduce((a, b) => a + b)).toBe(expectedFailed.length);
    const finished = (state: string) =>
      scrapes.reduce((sum, s) => sum + sumSamples(s, 'fleet_instances_finished_total', { state }), 0);
    expect([finished('succeeded'), finished('failed')]).toEqual([1000 - expectedFailed.length, expectedFailed.length]);
    // Each worker's reading of Postgres's clock: on this one host the true offset is 0, so what it measured is within
    // half the round trip it measured over (plus the microsecond Postgres's clock is read to).
    for (const s of scrapes) {
      const roundTrip = sumSamples(s, 'fleet_database_clock_round_trip_seconds');
      expect(roundTrip).toBeGreaterThan(0);
      expect(Math.abs(sumSamples(s, 'fleet_database_clock_offset_seconds'))).toBeLessThanOrEqual(roundTrip / 2 + 1e-6);
    }
    // The API's needs its token.
    expect((await fetch(`${apiUrl}/metrics`)).status).toBe(401);
    const api = await scrapeMetrics(`${apiUrl}/metrics`, { authorization: `Bearer ${METRICS_TOKEN}` });
    expect(sumSamples(api, 'fleet_http_requests_total', { method: 'POST', route: '/v1/rollouts', status: '202' })).toBe(
      1,
    );

    for (const p of processes) {
      expect(p.output()).not.toContain(SECRET);
      expect(p.output()).not.toContain(ADMIN_KEY);
      expect(p.output()).not.toContain(METRICS_TOKEN);
    }
  });

  it("runs each worker's send thread at nice -10 where it may raise it, its jobs' loop at the process's", () => {
    for (const worker of processes.slice(2)) {
      const nice = [...niceOfThreads(worker.pid).values()];
      const ready = worker
        .output()
        .split('\n')
        .filter((line) => line.includes('send thread ready'))
        .map((line) => JSON.parse(line) as { level: string; nice: number; refusal?: string });
      expect(ready).toHaveLength(1);
      if (holdsCapSysNice()) {
        expect(ready[0]).toMatchObject({ level: 'info', nice: -10 });
        // The kernel's view: one thread of the process at -10 (the send thread), the main thread at 0.
        expect(nice.filter((n) => n === -10)).toHaveLength(1);
        expect(niceOfThreads(worker.pid).get(worker.pid)).toBe(0);
      } else {
        expect(ready[0]).toMatchObject({ level: 'info', nice: 0, refusal: expect.stringContaining('EACCES') });
        expect(nice.every((n) => n === 0)).toBe(true);
      }
    }
  });

  it('stops every process on SIGTERM with exit code 0', async () => {
    const codes = await Promise.all(processes.map((p) => p.stop('SIGTERM')));
    expect(codes).toEqual([0, 0, 0, 0]);
  });
});
