/**
 * vitest globalSetup: the real product once for every e2e file: simulator, API (serving the console's build),
 * worker and reconciler as their own processes (their main.ts) over a private database and BullMQ prefix, and API
 * keys of each role. The files get its URLs and keys with `inject('stack')`.
 */
import path from 'node:path';
import { existsSync } from 'node:fs';
import type { TestProject } from 'vitest/node';
import {
  createTestDatabase,
  deleteKeysWithPrefix,
  localAppsEnv,
  repoRoot,
  spawnApp,
  uniquePrefix,
  waitForHttpOk,
} from '@fleet/testing';
import type { AppProcess } from '@fleet/testing';
import { CONSOLE_STACK_SEED, CONSOLE_FAILURE_RATE, OTHER_USER_ID, USER_ID } from './stack-constants.ts';

export type ConsoleStack = {
  apiUrl: string;
  simulatorUrl: string;
  adminKey: string;
  /** An operator of USER_ID and OTHER_USER_ID. */
  operatorKey: string;
  /** A viewer of USER_ID. */
  viewerKey: string;
};

declare module 'vitest' {
  export interface ProvidedContext {
    stack: ConsoleStack;
  }
}

async function makeKey(apiUrl: string, adminKey: string, body: object): Promise<string> {
  const res = await fetch(`${apiUrl}/v1/api-keys`, {
    method: 'POST',
    headers: { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (res.status !== 201) throw new Error(`making a key answered ${res.status}: ${await res.text()}`);
  return ((await res.json()) as { key: string }).key;
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const dist = path.join(repoRoot(), 'apps', 'dashboard', 'dist');
  if (!existsSync(path.join(dist, 'index.html')))
    throw new Error('the console is not built: run `npm run build --workspace @fleet/dashboard` (npm test does)');
  const testDb = await createTestDatabase();
  const prefix = uniquePrefix('console');
  const local = await localAppsEnv({ databaseUrl: testDb.url, prefix });
  const adminKey = `flt_console_e2e_${'k'.repeat(40)}`;
  const env = {
    ...local.env,
    CONSOLE_DIR: dist,
    FLEET_ADMIN_API_KEY: adminKey,
    // Webhook secrets are stored sealed: without a key the API answers 503 to making one (the admin page's form).
    FLEET_ENCRYPTION_KEY: Buffer.alloc(32, 9).toString('base64'),
    SIM_LATENCY_MS: '20',
    SIM_FAILURE_RATE: String(CONSOLE_FAILURE_RATE),
    SIM_SEED: CONSOLE_STACK_SEED,
    CMS_ACCESS_KEY_ID: 'LTAIconsole000000001',
    CMS_ACCESS_KEY_SECRET: 'console-e2e-secret-value',
    ROLLOUT_POLL_MS: '200',
    RECONCILE_INTERVAL_MS: '300',
    VERIFY_WINDOW_MS: '3000',
    LOG_LEVEL: 'warn',
  };
  const processes: AppProcess[] = (['simulator', 'api', 'worker', 'reconciler'] as const).map((app) =>
    spawnApp(app, env),
  );
  const teardown = async () => {
    await Promise.all(processes.map((p) => p.stop()));
    await Promise.all(processes.map((p) => p.kill()));
    await deleteKeysWithPrefix(prefix);
    await testDb.drop();
  };
  try {
    await waitForHttpOk('the simulator', `${local.simulatorUrl}_sim/stats`, { timeoutMs: 60_000 });
    await waitForHttpOk('the API', `${local.apiUrl}/readyz`, { timeoutMs: 60_000 });
    const operatorKey = await makeKey(local.apiUrl, adminKey, {
      name: 'console operator',
      role: 'operator',
      userIds: [USER_ID, OTHER_USER_ID],
    });
    const viewerKey = await makeKey(local.apiUrl, adminKey, {
      name: 'console viewer',
      role: 'viewer',
      userIds: [USER_ID],
    });
    project.provide('stack', {
      apiUrl: local.apiUrl,
      simulatorUrl: local.simulatorUrl,
      adminKey,
      operatorKey,
      viewerKey,
    });
  } catch (error) {
    const output = processes.map((p) => p.output().slice(-2000)).join('\n---\n');
    await teardown();
    throw new Error(`the console stack did not start: ${String(error)}\n${output}`, { cause: error });
  }
  return teardown;
}
