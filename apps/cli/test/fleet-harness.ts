/**
 * The real product for the `fleet` client tests: simulator, API and worker as their own processes (their real
 * main.ts) over a private database and BullMQ prefix, and `fleet` itself run as its bin (apps/cli/bin/fleet.js).
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { instanceIdsWithFate } from '@fleet/cms-simulator';
import {
  createTestDatabase,
  deleteKeysWithPrefix,
  freePort,
  repoRoot,
  spawnApp,
  testRedisUrl,
  uniquePrefix,
  waitFor,
} from '@fleet/testing';
import type { AppProcess, TestDatabase } from '@fleet/testing';

export const USER_ID = '1234567898765432';
const SEED = 'fleet-cli-seed';
/** The simulator's share of hosts without the agent (their NodeInstall always fails). */
const FAILURE_RATE = 0.3;
export const FLEET_BIN = path.join(repoRoot(), 'apps', 'cli', 'bin', 'fleet.js');

export type Product = {
  apiUrl: string;
  simUrl: string;
  adminKey: string;
  /** FLEET_URL and FLEET_API_KEY of the admin key, for `fleet`. */
  fleetEnv: Record<string, string>;
  /** Stops the API (SIGTERM, as a deploy does) and starts it again on the same port; resolves once it is ready. */
  restartApi(): Promise<void>;
  stop(): Promise<void>;
};

/** Starts the product; `reconciler` too when a test needs what it does (manual-install flags). */
export async function startProduct(name: string, options: { reconciler?: boolean } = {}): Promise<Product> {
  const testDb: TestDatabase = await createTestDatabase();
  const prefix = uniquePrefix(name);
  const [apiPort, simPort] = [await freePort(), await freePort()];
  const apiUrl = `http://127.0.0.1:${apiPort}`;
  const simUrl = `http://127.0.0.1:${simPort}/`;
  const adminKey = `flt_${name.replace(/[^a-z]/g, '')}_${'k'.repeat(40)}`;
  const env = {
    DATABASE_URL: testDb.url,
    REDIS_URL: testRedisUrl(),
    QUEUE_PREFIX: prefix,
    PORT: String(apiPort),
    HOST: '127.0.0.1',
    SIMULATOR_PORT: String(simPort),
    SIM_LATENCY_MS: '20',
    SIM_FAILURE_RATE: String(FAILURE_RATE),
    SIM_SEED: SEED,
    CMS_ENDPOINT: simUrl,
    CMS_ACCESS_KEY_ID: 'LTAIfleetcli00000001',
    CMS_ACCESS_KEY_SECRET: 'fleet-cli-secret-value',
    FLEET_ADMIN_API_KEY: adminKey,
    ROLLOUT_POLL_MS: '200',
    RECONCILE_INTERVAL_MS: '300',
    VERIFY_WINDOW_MS: '3000',
    LOG_LEVEL: 'warn',
  };
  const processes: AppProcess[] = [spawnApp('simulator', env), spawnApp('api', env), spawnApp('worker', env)];
  if (options.reconciler) processes.push(spawnApp('reconciler', env));
  const stop = async () => {
    await Promise.all(processes.map((p) => p.kill()));
    await deleteKeysWithPrefix(prefix);
    await testDb.drop();
  };
  try {
    await waitFor('the simulator', async () => (await fetch(`${simUrl}_sim/stats`)).ok, { intervalMs: 100 });
    await waitFor('the API to be ready', async () => (await fetch(`${apiUrl}/readyz`)).ok, { intervalMs: 100 });
  } catch (error) {
    await stop();
    throw error;
  }
  const restartApi = async () => {
    await processes[1]!.stop('SIGTERM');
    processes[1] = spawnApp('api', env);
    await waitFor('the API to be ready again', async () => (await fetch(`${apiUrl}/readyz`)).ok, { intervalMs: 100 });
  };
  return { apiUrl, simUrl, adminKey, fleetEnv: { FLEET_URL: apiUrl, FLEET_API_KEY: adminKey }, restartApi, stop };
}

export type FleetRun = { code: number | null; stdout: string; stderr: string };

/** Starts `fleet <args>` as its bin, with `env` over a clean one (no FLEET_* of the caller), stdin from `input`. */
function startFleet(args: string[], options: { env?: Record<string, string>; input?: string } = {}) {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('FLEET_')));
  const child = spawn(process.execPath, [FLEET_BIN, ...args], {
    cwd: repoRoot(),
    env: { ...base, NO_COLOR: '1', ...options.env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += String(d)));
  child.stderr.on('data', (d) => (stderr += String(d)));
  child.stdin.on('error', () => {});
  child.stdin.end(options.input ?? '');
  const done = new Promise<FleetRun>((resolve) => child.once('close', (code) => resolve({ code, stdout, stderr })));
  return { stdout: () => stdout, done };
}

/** Runs `fleet <args>` to its end (see startFleet). */
export function runFleet(
  args: string[],
  options: { env?: Record<string, string>; input?: string } = {},
): Promise<FleetRun> {
  return startFleet(args, options).done;
}

/** `count` instance ids that the simulator lets succeed (`fate: 'ok'`) or always fails (`'fail'`). */
export function idsWithFate(tag: string, count: number, fate: 'ok' | 'fail'): string[] {
  return instanceIdsWithFate({ seed: SEED, failureRate: FAILURE_RATE, tag }, count, fate);
}

/** `fleet rollout create` of the ids in `file` for the test account, `extra` flags after. */
export function createArgs(file: string, ...extra: string[]): string[] {
  return ['rollout', 'create', '--user-id', USER_ID, '--file', file, ...extra];
}
