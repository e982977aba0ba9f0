/**
 * Acceptance: a fleet where 5% of the instances have no Server Guard agent (NodeInstall fails), 1% do not exist,
 * 4% accept NodeInstall but the agent fails to install on the host (install_faild), and a few agents are gone
 * after a successful call (NodeStatus never shows them running). The product runs as processes: API, two
 * workers, the reconciler, with the simulator. Every such instance ends flagged for manual installation with the
 * right reason, the report groups them by cause correctly, and the CSV matches the JSON.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isAgentFailingInstance, isFailingInstance, isUnknownInstance } from '@fleet/cms-simulator';
import { createDatabase } from '@fleet/db';
import type { Database } from '@fleet/db';
import { createTestDatabase, csvRecords, instanceIds, uniquePrefix, waitFor } from '@fleet/testing';
import type { TestDatabase } from '@fleet/testing';
import type { AppProcess, PrivateRedis } from './support.ts';
import {
  ACCESS_KEY_SECRET,
  appEnv,
  USER_ID,
  freePort,
  spawnApp,
  startPrivateRedis,
  startSimulator,
} from './support.ts';

const SEED = 'report-seed';
const RATES = { failureRate: 0.05, notFoundRate: 0.01, agentFailureRate: 0.04 };
const INSTANCES = 1000;
const GONE = 5;
const ADMIN_KEY = `acceptance-admin-${randomBytes(16).toString('hex')}`;

let privateRedis: PrivateRedis;
let testDb: TestDatabase;
let db: Database;
let simulator: Awaited<ReturnType<typeof startSimulator>>;
const processes: AppProcess[] = [];
let apiUrl: string;

beforeAll(async () => {
  [privateRedis, testDb] = await Promise.all([startPrivateRedis(), createTestDatabase()]);
  db = createDatabase({ url: testDb.url, poolMax: 5 });
  simulator = await startSimulator({ seed: SEED, ...RATES, latencyMs: 20, installDurationMs: 1000 });
  const apiPort = await freePort();
  apiUrl = `http://127.0.0.1:${apiPort}`;
  const env = appEnv(
    {
      databaseUrl: testDb.url,
      redisUrl: privateRedis.url,
      prefix: uniquePrefix('report'),
      simulatorUrl: simulator.url,
      callTimeoutMs: 2000,
    },
    {
      PORT: String(apiPort),
      HOST: '127.0.0.1',
      FLEET_ADMIN_API_KEY: ADMIN_KEY,
      RECONCILE_INTERVAL_MS: '300',
      VERIFY_WINDOW_MS: '3000',
    },
  );
  processes.push(
    spawnApp('api', env),
    spawnApp('worker', env),
    spawnApp('worker', env),
    spawnApp('reconciler', { ...env, LOG_LEVEL: 'info' }),
  );
  await waitFor('the API', async () => (await fetch(`${apiUrl}/readyz`).catch(() => null))?.ok, { timeoutMs: 40_000 });
}, 60_000);

afterAll(async () => {
  await Promise.all(processes.map((p) => p.kill()));
  await simulator?.close();
  await db?.close();
  await testDb?.drop();
  await privateRedis?.stop();
});

const get = (path: string) => fetch(apiUrl + path, { headers: { authorization: `Bearer ${ADMIN_KEY}` } });

describe('a 5% failing fleet with agents that never come up', () => {
  it('flags every such instance with the right reason; the report groups them by cause; the CSV matches the JSON', async () => {
    const ids = instanceIds(INSTANCES, 'i-rp');
    const unknown = new Set(ids.filter((id) => isUnknownInstance(SEED, id, RATES.notFoundRate)));
    const noGuard = new Set(ids.filter((id) => !unknown.has(id) && isFailingInstance(SEED, id, RATES.failureRate)));
    const agentFails = new Set(
      ids.filter(
        (id) => !unknown.has(id) && !noGuard.has(id) && isAgentFailingInstance(SEED, id, RATES.agentFailureRate),
      ),
    );
    // Healthy instances whose agent is removed right after NodeInstall succeeded: NodeStatus never shows it running.
    const gone = new Set(
      ids.filter((id) => !unknown.has(id) && !noGuard.has(id) && !agentFails.has(id)).slice(100, 100 + GONE),
    );
    expect(noGuard.size).toBeGreaterThan(20);
    expect(unknown.size).toBeGreaterThan(2);
    expect(agentFails.size).toBeGreaterThan(15);

    const created = await fetch(`${apiUrl}/v1/rollouts`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ userId: USER_ID, instanceIds: ids, force: true, concurrency: 50 }),
    });
    expect(created.status).toBe(202);
    const rolloutId = ((await created.json()) as { id: string }).id;

    // The agent of each `gone` instance disappears as soon as its NodeInstall succeeded (while it is still installing).
    const removed = new Set<string>();
    await waitFor(
      'the gone agents removed',
      async () => {
        const done = await db.prisma.rolloutInstance.findMany({
          where: { rolloutId, instanceId: { in: [...gone] }, state: 'succeeded' },
          select: { instanceId: true },
        });
        for (const { instanceId } of done) {
          if (removed.has(instanceId)) continue;
          expect((await simulator.cms.nodeUninstall({ instanceId })).outcome.kind).toBe('success');
          removed.add(instanceId);
        }
        return removed.size === GONE;
      },
      { timeoutMs: 40_000, intervalMs: 10 },
    );

    await waitFor(
      'the rollout completed and every install verified or flagged',
      async () => {
        const rollout = await db.prisma.rollout.findUniqueOrThrow({ where: { id: rolloutId } });
        const undecided = await db.prisma.rolloutInstance.count({
          where: { rolloutId, state: 'succeeded', OR: [{ verification: null }, { verification: 'pending' }] },
        });
        return rollout.status === 'completed' && undecided === 0;
      },
      { timeoutMs: 50_000, intervalMs: 250 },
    );

    // Every instance where it matters ended as expected, flagged with the right reason.
    const expected = new Map<string, { state: string; verification: string | null; reason: string | null }>();
    for (const id of ids) {
      if (unknown.has(id)) expected.set(id, { state: 'failed', verification: null, reason: 'instance_not_found' });
      else if (noGuard.has(id))
        expected.set(id, { state: 'failed', verification: null, reason: 'no_server_guard_agent' });
      else if (agentFails.has(id))
        expected.set(id, { state: 'succeeded', verification: 'failed', reason: 'install_failed_on_host' });
      else if (gone.has(id))
        expected.set(id, { state: 'succeeded', verification: 'failed', reason: 'agent_not_running' });
      else expected.set(id, { state: 'succeeded', verification: 'verified', reason: null });
    }
    const instances = await db.prisma.rolloutInstance.findMany({ where: { rolloutId } });
    const flags = new Map(
      (await db.prisma.manualInstallFlag.findMany({ where: { rolloutId } })).map((f) => [f.instanceId, f]),
    );
    for (const instance of instances) {
      const want = expected.get(instance.instanceId)!;
      expect({
        id: instance.instanceId,
        state: instance.state,
        verification: instance.verification,
        reason: instance.manualInstallReason,
      }).toEqual({
        id: instance.instanceId,
        ...want,
      });
      expect(instance.needsManualInstall).toBe(want.reason !== null);
      if (want.reason === null) expect(flags.has(instance.instanceId)).toBe(false);
      else
        expect(flags.get(instance.instanceId)).toMatchObject({ status: 'open', reason: want.reason, userId: USER_ID });
    }
    const flaggedCount = unknown.size + noGuard.size + agentFails.size + gone.size;
    expect(flags.size).toBe(flaggedCount);

    // The report: one group per cause, with the right members.
    type ReportInstance = {
      instanceId: string;
      state: string;
      lastRequestId: string | null;
      attempts: number;
      manualInstallReason: string | null;
      verification: string | null;
      agentStatus: string | null;
      manualInstallFlag: { status: string } | null;
    };
    type ReportGroup = {
      errorCode: string;
      cause: string;
      count: number;
      recommendedAction: string;
      manualInstallReasons: Record<string, number>;
      instances: ReportInstance[];
    };
    const report = (await (await get(`/v1/rollouts/${rolloutId}/report?instancesPerGroup=1000`)).json()) as {
      manualInstallFlags: { open: number };
      failures: { groups: ReportGroup[] };
    };
    expect(report).toMatchObject({
      status: 'completed',
      counts: { total: INSTANCES, failed: unknown.size + noGuard.size },
      failures: { total: flaggedCount, causes: 4 },
    });
    expect(report.manualInstallFlags.open).toBe(flaggedCount);
    const groups = new Map(report.failures.groups.map((g) => [g.errorCode, g]));
    const group = (code: string): ReportGroup => groups.get(code) ?? expect.fail(`no failure group ${code}`);
    const members = (code: string) => new Set(group(code).instances.map((i) => i.instanceId));
    expect(members('400')).toEqual(noGuard);
    expect(group('400').cause).toMatch(
      /^400: The Server Guard \(Aegis\) agent is not installed or not online on instance <instance>/,
    );
    expect(group('400').manualInstallReasons).toEqual({ no_server_guard_agent: noGuard.size });
    expect(members('InvalidInstanceId.NotFound')).toEqual(unknown);
    expect(members('agent:install_faild')).toEqual(agentFails);
    expect(group('agent:install_faild').manualInstallReasons).toEqual({ install_failed_on_host: agentFails.size });
    expect(members('agent:uninstalled')).toEqual(gone);
    expect(group('agent:uninstalled').manualInstallReasons).toEqual({ agent_not_running: GONE });
    for (const group of report.failures.groups) {
      expect(group.count).toBe(group.instances.length);
      expect(group.recommendedAction.length).toBeGreaterThan(20);
      for (const instance of group.instances) expect(instance.manualInstallFlag).toMatchObject({ status: 'open' });
    }

    // The CSV says the same, instance by instance.
    const csv = await get(`/v1/rollouts/${rolloutId}/report?format=csv`);
    expect(csv.headers.get('content-type')).toMatch(/^text\/csv/);
    const rows = csvRecords(await csv.text());
    expect(rows).toHaveLength(flaggedCount);
    const fromJson = new Map<string, { cause: string; instance: ReportInstance }>();
    for (const group of report.failures.groups)
      for (const instance of group.instances) fromJson.set(instance.instanceId, { cause: group.cause, instance });
    for (const row of rows) {
      const json = fromJson.get(row.instance_id!)!;
      expect(json).toBeDefined();
      expect(row).toMatchObject({
        rollout_id: rolloutId,
        state: json.instance.state,
        cause: json.cause,
        last_request_id: json.instance.lastRequestId ?? '',
        attempts: String(json.instance.attempts),
        manual_install_reason: json.instance.manualInstallReason,
        verification: json.instance.verification ?? '',
        agent_status: json.instance.agentStatus ?? '',
        flag_status: 'open',
      });
    }
    expect(new Set(rows.map((r) => r.instance_id))).toEqual(new Set(fromJson.keys()));
    for (const p of processes) expect(p.output()).not.toContain(ACCESS_KEY_SECRET);
  });
});
