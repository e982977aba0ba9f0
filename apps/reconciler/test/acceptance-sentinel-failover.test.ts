/**
 * Acceptance: Redis Sentinel failover in the middle of a rollout. A private deployment (one master, two replicas,
 * three sentinels; never the machine's shared Redis); every app connects through the sentinels (REDIS_SENTINELS);
 * `SENTINEL FAILOVER` promotes a replica and demotes the master while calls are in flight. Replication is
 * asynchronous, so the last writes to the old master may be lost (BullMQ's job state, limit slots): Postgres stays the
 * record and the reconciler puts back what Redis forgot. The rollout completes with every call one attempt row, no
 * instance final twice, and no process restarted.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDatabase } from '@fleet/db';
import type { Database } from '@fleet/db';
import { createTestDatabase, instanceIds, startPrivateSentinel, uniquePrefix, waitFor } from '@fleet/testing';
import type { PrivateSentinel, TestDatabase } from '@fleet/testing';
import type { AppProcess } from './support.ts';
import {
  ACCESS_KEY_SECRET,
  appEnv,
  expectEveryCallOneAttemptRow,
  freePort,
  spawnApp,
  startSimulator,
  USER_ID,
} from './support.ts';

const SEED = 'sentinel-seed';
const FAILURE_RATE = 0.05;
const INSTANCES = 1200;
const CONCURRENCY = 20;
const ADMIN_KEY = `flt_sentinel_${'s'.repeat(36)}`;
const auth = { authorization: `Bearer ${ADMIN_KEY}` };

let sentinel: PrivateSentinel;
let testDb: TestDatabase;
let db: Database;
let simulator: Awaited<ReturnType<typeof startSimulator>>;
const processes: AppProcess[] = [];
const prefix = uniquePrefix('sentinel');
let apiUrl: string;

beforeAll(async () => {
  [sentinel, testDb] = await Promise.all([startPrivateSentinel(), createTestDatabase()]);
  db = createDatabase({ url: testDb.url, poolMax: 3 });
  simulator = await startSimulator({ seed: SEED, failureRate: FAILURE_RATE, latencyMs: 60, installDurationMs: 100 });
  const apiPort = await freePort();
  apiUrl = `http://127.0.0.1:${apiPort}`;
  const env = appEnv(
    // REDIS_URL points nowhere: every connection must go through the sentinels.
    {
      databaseUrl: testDb.url,
      redisUrl: 'redis://127.0.0.1:1',
      prefix,
      simulatorUrl: simulator.url,
      callTimeoutMs: 5000,
    },
    {
      REDIS_SENTINELS: sentinel.sentinels.map((s) => `${s.host}:${s.port}`).join(','),
      REDIS_SENTINEL_NAME: sentinel.name,
      PORT: String(apiPort),
      HOST: '127.0.0.1',
      FLEET_ADMIN_API_KEY: ADMIN_KEY,
      WORKER_CONCURRENCY: String(CONCURRENCY),
      RECONCILE_INTERVAL_MS: '500',
      RECONCILER_ID: 'sentinel-reconciler',
    },
  );
  processes.push(
    spawnApp('api', env),
    spawnApp('worker', { ...env, WORKER_ID: 'sentinel-w1' }),
    spawnApp('worker', { ...env, WORKER_ID: 'sentinel-w2' }),
    spawnApp('reconciler', env),
  );
  await waitFor('the API to be ready', async () => (await fetch(`${apiUrl}/readyz`)).ok, {
    timeoutMs: 60_000,
    intervalMs: 100,
  });
}, 90_000);

afterAll(async () => {
  await Promise.all(processes.map((p) => p.kill()));
  await simulator?.close();
  await db?.close();
  await testDb?.drop();
  await sentinel?.stop();
});

describe('Redis Sentinel failover mid-rollout', () => {
  it('completes through the new master; attempt rows equal the calls; no instance final twice; no process restarted', async () => {
    const ids = instanceIds(INSTANCES, 'i-snt');
    const created = await fetch(`${apiUrl}/v1/rollouts`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...auth },
      body: JSON.stringify({ userId: USER_ID, instanceIds: ids, force: false, concurrency: CONCURRENCY }),
    });
    expect(created.status).toBe(202);
    const location = created.headers.get('location')!;
    const rolloutId = location.split('/').pop()!;

    await waitFor('25% of the calls made', () => simulator.sim.stats().requests >= INSTANCES * 0.25, {
      timeoutMs: 60_000,
      intervalMs: 20,
    });
    const oldMaster = await sentinel.masterPort();
    const newMaster = await sentinel.failover();
    const callsAtFailover = simulator.sim.stats().requests;
    expect(newMaster).not.toBe(oldMaster);

    await waitFor(
      'the rollout completed',
      async () => {
        const response = await fetch(apiUrl + location, { headers: auth, signal: AbortSignal.timeout(10_000) });
        return response.ok && ((await response.json()) as { status: string }).status === 'completed';
      },
      { timeoutMs: 120_000, intervalMs: 250 },
    );
    expect(callsAtFailover).toBeLessThan(INSTANCES);
    await expectEveryCallOneAttemptRow(db, simulator, rolloutId, {
      seed: SEED,
      failureRate: FAILURE_RATE,
      instances: INSTANCES,
    });
    for (const p of processes) {
      expect(p.child.exitCode, p.output().slice(-2000)).toBeNull();
      expect(p.output()).not.toContain(ACCESS_KEY_SECRET);
    }
    process.stdout.write(
      `sentinel failover acceptance: master ${oldMaster} -> ${newMaster} after ${callsAtFailover} of ${INSTANCES} ` +
        `calls; completed with ${simulator.sim.stats().requests} calls = attempt rows\n`,
    );
  }, 240_000);

  it('every process stops on SIGTERM with exit code 0 afterwards', async () => {
    expect(await Promise.all(processes.map((p) => p.stop('SIGTERM')))).toEqual([0, 0, 0, 0]);
  });
});
