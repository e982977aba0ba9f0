/**
 * The deployment a Redis-topology fault test runs (Sentinel failover, a cluster master killed): a database of its
 * own, the simulator, and the real API, two workers and the reconciler as processes, every one of them reaching Redis
 * only through the variables the test gives (REDIS_URL points nowhere). Then one rollout through a fault: created over
 * the API, the fault made once a quarter of its calls are made, and the checks every such test makes once it completes.
 */
import { expect } from 'vitest';
import { createDatabase } from '@fleet/db';
import type { Database } from '@fleet/db';
import { createTestDatabase, instanceIds, waitFor } from '@fleet/testing';
import type { TestDatabase } from '@fleet/testing';
import type { AppProcess, RunningSimulator } from './support.ts';
import {
  ACCESS_KEY_SECRET,
  appEnv,
  expectEveryCallOneAttemptRow,
  freePort,
  spawnApp,
  startSimulator,
  USER_ID,
} from './support.ts';

export type FaultDeploymentOptions = {
  /** Names the admin key, worker and reconciler ids (letters only). */
  label: string;
  prefix: string;
  /** How the apps reach Redis: REDIS_SENTINELS and REDIS_SENTINEL_NAME, or REDIS_CLUSTER_NODES. */
  redisEnv: Record<string, string>;
  seed: string;
  failureRate: number;
  /** Each worker's WORKER_CONCURRENCY, and the rollout's concurrency. */
  concurrency: number;
};

export type FaultDeployment = {
  db: Database;
  simulator: RunningSimulator;
  /** api, worker 1, worker 2, reconciler. */
  processes: AppProcess[];
  /**
   * Creates a rollout of `instances` over the API, waits for a quarter of its calls, runs `fault` (given the
   * rollout's id; it answers
   * what it did, for the log line), waits for the rollout to complete and checks: attempt rows equal the simulator's
   * calls, no instance final twice, no process exited, no secret in any output. Resolves with the calls made by the
   * time the fault was over.
   */
  rolloutThroughFault(
    instances: number,
    fault: (rolloutId: string) => Promise<string>,
  ): Promise<{ callsAtFault: number }>;
  close(): Promise<void>;
};

export async function startFaultDeployment(options: FaultDeploymentOptions): Promise<FaultDeployment> {
  const adminKey = `flt_${options.label}_${'k'.repeat(36)}`;
  const auth = { authorization: `Bearer ${adminKey}` };
  const testDb: TestDatabase = await createTestDatabase();
  const db = createDatabase({ url: testDb.url, poolMax: 3 });
  const simulator = await startSimulator({
    seed: options.seed,
    failureRate: options.failureRate,
    latencyMs: 60,
    installDurationMs: 100,
  });
  const apiPort = await freePort();
  const apiUrl = `http://127.0.0.1:${apiPort}`;
  const env = appEnv(
    // REDIS_URL points nowhere: every connection must go through redisEnv.
    {
      databaseUrl: testDb.url,
      redisUrl: 'redis://127.0.0.1:1',
      prefix: options.prefix,
      simulatorUrl: simulator.url,
      callTimeoutMs: 5000,
    },
    {
      ...options.redisEnv,
      PORT: String(apiPort),
      HOST: '127.0.0.1',
      FLEET_ADMIN_API_KEY: adminKey,
      WORKER_CONCURRENCY: String(options.concurrency),
      RECONCILE_INTERVAL_MS: '500',
      RECONCILER_ID: `${options.label}-reconciler`,
    },
  );
  const processes = [
    spawnApp('api', env),
    spawnApp('worker', { ...env, WORKER_ID: `${options.label}-w1` }),
    spawnApp('worker', { ...env, WORKER_ID: `${options.label}-w2` }),
    spawnApp('reconciler', env),
  ];
  const close = async () => {
    await Promise.all(processes.map((p) => p.kill()));
    await simulator.close();
    await db.close();
    await testDb.drop();
  };
  try {
    await waitFor('the API to be ready', async () => (await fetch(`${apiUrl}/readyz`)).ok, {
      timeoutMs: 60_000,
      intervalMs: 100,
    });
  } catch (error) {
    const outputs = processes.map((p) => p.output().slice(-1500)).join('\n---\n');
    await close();
    throw new Error(`${(error as Error).message}\n${outputs}`, { cause: error });
  }

  // Each rollout's instance ids are its own: the simulator counts calls by instance id, across rollouts.
  let rollouts = 0;
  return {
    db,
    simulator,
    processes,
    close,
    async rolloutThroughFault(instances, fault) {
      rollouts++;
      // The simulator counts every call since it started: this rollout's are those after `before`.
      const before = simulator.sim.stats().requests;
      const calls = () => simulator.sim.stats().requests - before;
      const created = await fetch(`${apiUrl}/v1/rollouts`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...auth },
        body: JSON.stringify({
          userId: USER_ID,
          instanceIds: instanceIds(instances, `i-${options.label.slice(0, 3)}${rollouts}`),
          force: false,
          concurrency: options.concurrency,
        }),
      });
      expect(created.status).toBe(202);
      const location = created.headers.get('location')!;
      const rolloutId = location.split('/').pop()!;

      await waitFor('25% of the calls made', () => calls() >= instances * 0.25, {
        timeoutMs: 60_000,
        intervalMs: 20,
      });
      const done = await fault(rolloutId);
      // Counted once the fault is over: fewer than all calls means the rollout was still running through it.
      const callsAtFault = calls();

      await waitFor(
        'the rollout completed',
        async () => {
          const response = await fetch(apiUrl + location, { headers: auth, signal: AbortSignal.timeout(10_000) });
          return response.ok && ((await response.json()) as { status: string }).status === 'completed';
        },
        { timeoutMs: 120_000, intervalMs: 250 },
      );
      expect(callsAtFault).toBeLessThan(instances);
      await expectEveryCallOneAttemptRow(db, simulator, rolloutId, {
        seed: options.seed,
        failureRate: options.failureRate,
        instances,
      });
      for (const p of processes) {
        expect(p.child.exitCode, p.output().slice(-2000)).toBeNull();
        expect(p.output()).not.toContain(ACCESS_KEY_SECRET);
      }
      process.stdout.write(
        `${options.label} acceptance: ${done} after ${callsAtFault} of ${instances} calls; completed with ` +
          `${calls()} calls = attempt rows\n`,
      );
      return { callsAtFault };
    },
  };
}
