/**
 * Acceptance: Postgres restarted in the middle of a rollout (`pg_ctl stop -m fast`, a few seconds down, started
 * again), under the real API, two worker processes and the reconciler, all of them left running. A private cluster
 * made for this file: the machine's shared Postgres is never stopped.
 *
 * While Postgres is down the API answers 503 (never 500 or a hang) and the workers hold the answers of calls that
 * were in flight until they can write them; once it is back every process carries on by itself. The rollout
 * completes, every call the simulator counted is one attempt row and every row one call, and no instance is final
 * twice.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDatabase } from '@fleet/db';
import type { Database } from '@fleet/db';
import {
  deleteKeysWithPrefix,
  instanceIds,
  startPrivatePostgres,
  testRedisUrl,
  uniquePrefix,
  waitFor,
} from '@fleet/testing';
import type { PrivatePostgres } from '@fleet/testing';
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

const SEED = 'pg-restart-seed';
const FAILURE_RATE = 0.05;
const INSTANCES = 1200;
const CONCURRENCY = 20;
const DOWN_MS = 4000;
const ADMIN_KEY = `flt_pgrestart_${'r'.repeat(36)}`;
const auth = { authorization: `Bearer ${ADMIN_KEY}` };

let postgres: PrivatePostgres;
let db: Database;
let simulator: Awaited<ReturnType<typeof startSimulator>>;
const processes: AppProcess[] = [];
const prefix = uniquePrefix('pgrestart');
let apiUrl: string;

beforeAll(async () => {
  postgres = await startPrivatePostgres();
  db = createDatabase({ url: postgres.url, poolMax: 3 });
  simulator = await startSimulator({ seed: SEED, failureRate: FAILURE_RATE, latencyMs: 60, installDurationMs: 100 });
  const apiPort = await freePort();
  apiUrl = `http://127.0.0.1:${apiPort}`;
  const env = appEnv(
    { databaseUrl: postgres.url, redisUrl: testRedisUrl(), prefix, simulatorUrl: simulator.url, callTimeoutMs: 5000 },
    {
      PORT: String(apiPort),
      HOST: '127.0.0.1',
      FLEET_ADMIN_API_KEY: ADMIN_KEY,
      WORKER_CONCURRENCY: String(CONCURRENCY),
      RECONCILE_INTERVAL_MS: '500',
      RECONCILER_ID: 'pg-restart-reconciler',
    },
  );
  processes.push(
    spawnApp('api', env),
    spawnApp('worker', { ...env, WORKER_ID: 'pg-w1' }),
    spawnApp('worker', { ...env, WORKER_ID: 'pg-w2' }),
    spawnApp('reconciler', env),
  );
  await waitFor('the API to be ready', async () => (await fetch(`${apiUrl}/readyz`)).ok, {
    timeoutMs: 60_000,
    intervalMs: 100,
  });
}, 90_000);

afterAll(async () => {
  await Promise.all(processes.map((p) => p.kill()));
  await deleteKeysWithPrefix(prefix);
  await simulator?.close();
  await db?.close();
  await postgres?.destroy();
});

/** GET of the rollout: its HTTP status, and the body when there is one. */
async function readRollout(location: string): Promise<{ status: number; body: { status?: string; counts?: unknown } }> {
  const response = await fetch(apiUrl + location, { headers: auth, signal: AbortSignal.timeout(10_000) });
  return { status: response.status, body: (await response.json().catch(() => ({}))) as { status?: string } };
}

describe('Postgres restarted mid-rollout', () => {
  it('completes; the API answered 503 while it was down and 200 after; attempt rows equal the calls; no process restarted', async () => {
    const ids = instanceIds(INSTANCES, 'i-pgr');
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
    await postgres.stop();
    const downAt = Date.now();
    const whileDown: number[] = [];
    while (Date.now() - downAt < DOWN_MS) {
      whileDown.push((await readRollout(location)).status);
      await new Promise((r) => setTimeout(r, 250));
    }
    const callsWhileDown = simulator.sim.stats().requests;
    await postgres.start();

    const final = await waitFor(
      'the rollout completed',
      async () => {
        const read = await readRollout(location);
        return read.status === 200 && read.body.status === 'completed' ? read : null;
      },
      { timeoutMs: 120_000, intervalMs: 250 },
    );
    expect(new Set(whileDown)).toEqual(new Set([503]));
    expect(final.body.counts).toMatchObject({ total: INSTANCES, pending: 0, in_progress: 0 });
    expect(callsWhileDown).toBeLessThan(INSTANCES);

    await expectEveryCallOneAttemptRow(db, simulator, rolloutId, {
      seed: SEED,
      failureRate: FAILURE_RATE,
      instances: INSTANCES,
    });
    const stats = simulator.sim.stats();
    for (const p of processes) {
      expect(p.child.exitCode, p.output().slice(-2000)).toBeNull();
      expect(p.output()).not.toContain(ACCESS_KEY_SECRET);
    }
    process.stdout.write(
      `postgres restart acceptance: down ${DOWN_MS} ms after ${callsWhileDown} of ${INSTANCES} calls ` +
        `(${whileDown.length} reads, all 503); completed with ${stats.requests} calls = attempt rows\n`,
    );
  });

  it('every process stops on SIGTERM with exit code 0 afterwards', async () => {
    expect(await Promise.all(processes.map((p) => p.stop('SIGTERM')))).toEqual([0, 0, 0, 0]);
  });
});
