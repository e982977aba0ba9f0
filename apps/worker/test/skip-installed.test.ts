import { afterEach, describe, expect, it } from 'vitest';
import { createCmsClient } from '@fleet/cms-client';
import type { AppProcess } from '@fleet/testing';
import {
  csvRecords,
  instanceIds,
  localAppsEnv,
  parsePrometheusText,
  spawnApp,
  sumSamples,
  waitForHttpOk,
} from '@fleet/testing';
import type { WorkerHarness } from './support.ts';
import {
  ACCESS_KEY_ID,
  ACCESS_KEY_SECRET,
  USER_ID,
  harnessWorkerMetrics,
  rolloutFacts,
  startHarness,
} from './support.ts';

let h: WorkerHarness | undefined;
let api: AppProcess | undefined;
afterEach(async () => {
  await api?.kill();
  api = undefined;
  await h?.close();
  h = undefined;
});

const ADMIN_KEY = `flt_skip_${'k'.repeat(40)}`;

/** The API as a process on the harness's database and Redis prefix; its URL and a GET with the admin key. */
async function startApiOn(harness: WorkerHarness) {
  const local = await localAppsEnv({ databaseUrl: harness.dbUrl, prefix: harness.prefix });
  api = spawnApp('api', { ...local.env, CMS_ENDPOINT: harness.simUrl, FLEET_ADMIN_API_KEY: ADMIN_KEY });
  await waitForHttpOk('the API to be ready', `${local.apiUrl}/readyz`, { timeoutMs: 60_000 });
  return (path: string) => fetch(`${local.apiUrl}${path}`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } });
}

/** A worker's metrics as main.ts makes them, and their samples as a scrape would read them. */
function workerMetricsOf(harness: WorkerHarness) {
  const { registry, metrics } = harnessWorkerMetrics(harness);
  return { metrics, scrape: async () => parsePrometheusText(await registry.metrics()) };
}

/** NodeInstall on `ids` straight at the simulator (not through a rollout), so that their agents run. */
async function installBeforehand(harness: WorkerHarness, ids: readonly string[]): Promise<void> {
  const cms = createCmsClient({
    endpoint: harness.simUrl,
    credentials: { accessKeyId: ACCESS_KEY_ID, accessKeySecret: ACCESS_KEY_SECRET },
  });
  try {
    let next = 0;
    const lane = async () => {
      while (next < ids.length) await cms.nodeInstall({ userId: USER_ID, instanceId: ids[next++]!, force: false });
    };
    await Promise.all(Array.from({ length: 10 }, lane));
  } finally {
    await cms.close();
  }
}

/** InstallMonitoringAgent on `ids` straight at the simulator, 10 a call (not through a rollout), so that they run. */
async function installMonitoringAgentBeforehand(harness: WorkerHarness, ids: readonly string[]): Promise<void> {
  const cms = createCmsClient({
    endpoint: harness.simUrl,
    credentials: { accessKeyId: ACCESS_KEY_ID, accessKeySecret: ACCESS_KEY_SECRET },
  });
  try {
    for (let at = 0; at < ids.length; at += 10) {
      const result = await cms.installMonitoringAgent({ instanceIds: ids.slice(at, at + 10), force: false });
      expect(result.outcome.kind).toBe('success');
    }
  } finally {
    await cms.close();
  }
}

describe('skipInstalled', () => {
  it('on a fleet where 30% already run the agent: no NodeInstall for them, they end skipped, the rest install', async () => {
    h = await startHarness({ latencyMs: 5, failureRate: 0, installDurationMs: 0, seed: 'skip-1' });
    const ids = instanceIds(300, 'i-sk');
    const running = ids.filter((_, n) => n % 10 < 3);
    await installBeforehand(h, running);
    for (const id of running) expect(h.sim.instance(id).status).toBe('running');
    const installCallsBefore = h.sim.stats().byAction['NodeInstall'];
    expect(installCallsBefore).toBe(running.length);

    const rolloutId = await h.createRollout(ids, { concurrency: 20, force: false, policy: { skipInstalled: true } });
    const worker = workerMetricsOf(h);
    await h.startPool({ metrics: worker.metrics });
    await h.waitForRolloutStatus(rolloutId, 'completed');

    const facts = await rolloutFacts(h.db, rolloutId);
    const wasRunning = new Set(running);
    for (const instance of facts) {
      // Every instance had its status check, recorded like an attempt (attempt 0) with its RequestId.
      const check = instance.attempts.find((a) => a.kind === 'status_check');
      expect(check).toMatchObject({ attemptNo: 0, outcome: 'success' });
      expect(check!.requestId).toMatch(/^[0-9A-F-]{36}$/i);
      if (wasRunning.has(instance.instanceId)) {
        expect(instance).toMatchObject({ state: 'skipped', attemptCount: 0, needsManualInstall: false });
        expect(instance.attempts).toHaveLength(1);
        // The simulator saw one NodeInstall for it: the one made before the rollout.
        expect(h.sim.instance(instance.instanceId).installCalls).toBe(1);
      } else {
        expect(instance).toMatchObject({ state: 'succeeded', attemptCount: 1 });
        expect(instance.attempts.map((a) => a.kind)).toEqual(['status_check', 'install']);
        expect(h.sim.instance(instance.instanceId).installCalls).toBe(1);
      }
    }
    const stats = h.sim.stats();
    expect(stats.byAction['NodeInstall']! - installCallsBefore!).toBe(ids.length - running.length);
    // Batched: fewer NodeStatusList calls than instances.
    expect(stats.byAction['NodeStatusList']).toBeLessThan(ids.length / 2);
    const counts = await h.db.prisma.rolloutStateCount.findMany({ where: { rolloutId } });
    expect(Object.fromEntries(counts.filter((c) => c.count > 0).map((c) => [c.state, c.count]))).toEqual({
      skipped: running.length,
      succeeded: ids.length - running.length,
    });

    // The skipped instances on every surface: the worker's metric, the API's listing, its report and CSV; no flag.
    const samples = await worker.scrape();
    expect(sumSamples(samples, 'fleet_instances_finished_total', { state: 'skipped' })).toBe(running.length);
    expect(sumSamples(samples, 'fleet_instances_finished_total', { state: 'succeeded' })).toBe(
      ids.length - running.length,
    );
    const get = await startApiOn(h);
    const listing = await get(`/v1/rollouts/${rolloutId}/instances?state=skipped&limit=1000`);
    expect(listing.status).toBe(200);
    const page = (await listing.json()) as {
      items: { instanceId: string; state: string; needsManualInstall: boolean; attemptCount: number }[];
      nextCursor: string | null;
    };
    expect(page.nextCursor).toBeNull();
    expect(page.items.map((i) => i.instanceId).sort()).toEqual([...running].sort());
    for (const item of page.items)
      expect(item).toMatchObject({ state: 'skipped', needsManualInstall: false, attemptCount: 0 });

    const report = await get(`/v1/rollouts/${rolloutId}/report`);
    expect(report.status).toBe(200);
    expect(await report.json()).toMatchObject({
      status: 'completed',
      counts: { total: ids.length, skipped: running.length, succeeded: ids.length - running.length, failed: 0 },
      manualInstallFlags: { open: 0, acknowledged: 0, resolved: 0, closed: 0 },
      failures: { total: 0 },
    });

    const csv = await get(`/v1/rollouts/${rolloutId}/report?format=csv&scope=all`);
    expect(csv.status).toBe(200);
    const rows = csvRecords(await csv.text());
    expect(rows).toHaveLength(ids.length);
    const skippedRows = rows.filter((r) => r.state === 'skipped');
    expect(skippedRows.map((r) => r.instance_id).sort()).toEqual([...running].sort());
    for (const row of skippedRows)
      expect(row).toMatchObject({ cause: '', manual_install_reason: '', flag_status: '', attempts: '0' });
    expect(await h.db.prisma.manualInstallFlag.count()).toBe(0);
  }, 120_000);

  it('without it, an agent that runs is installed over (NodeInstall made) and nothing is skipped', async () => {
    h = await startHarness({ latencyMs: 5, failureRate: 0, installDurationMs: 0, seed: 'skip-2' });
    const ids = instanceIds(20, 'i-ns');
    await installBeforehand(h, ids.slice(0, 10));
    const rolloutId = await h.createRollout(ids, { concurrency: 5, force: false });
    await h.startPool();
    await h.waitForRolloutStatus(rolloutId, 'completed');
    const facts = await rolloutFacts(h.db, rolloutId);
    expect(facts.every((i) => i.state === 'succeeded')).toBe(true);
    expect(facts.every((i) => i.attempts.every((a) => a.kind === 'install'))).toBe(true);
    expect(h.sim.stats().byAction['NodeStatusList'] ?? 0).toBe(0);
  });

  it('driver install-monitoring-agent: DescribeMonitoringAgentStatuses, no NodeStatusList; running hosts skipped, in no install call', async () => {
    h = await startHarness({ latencyMs: 5, failureRate: 0, installDurationMs: 0, seed: 'skip-3' });
    const ids = instanceIds(200, 'i-sm');
    const running = ids.filter((_, n) => n % 4 === 0);
    await installMonitoringAgentBeforehand(h, running);
    for (const id of running) expect(h.sim.instance(id).status).toBe('running');
    const before = h.sim.stats();
    expect(before.monitoringAgent.requests).toBe(running.length / 10);

    const rolloutId = await h.createRollout(ids, {
      concurrency: 40,
      force: false,
      policy: { skipInstalled: true, driver: 'install-monitoring-agent' },
    });
    await h.startPool();
    await h.waitForRolloutStatus(rolloutId, 'completed');

    const stats = h.sim.stats();
    const describeCalls =
      (stats.byAction['DescribeMonitoringAgentStatuses'] ?? 0) -
      (before.byAction['DescribeMonitoringAgentStatuses'] ?? 0);
    expect(stats.byAction['NodeStatusList'] ?? 0).toBe(0);
    expect(stats.byAction['NodeInstall'] ?? 0).toBe(0);
    // Batched: fewer status calls than instances, at least one per 50.
    expect(describeCalls).toBeGreaterThanOrEqual(ids.length / 50);
    expect(describeCalls).toBeLessThan(ids.length / 2);

    const facts = await rolloutFacts(h.db, rolloutId);
    const wasRunning = new Set(running);
    const checkRequestIds = new Set<string>();
    for (const instance of facts) {
      const check = instance.attempts.find((a) => a.kind === 'status_check');
      expect(check, instance.instanceId).toMatchObject({ attemptNo: 0, outcome: 'success' });
      expect(check!.requestId).toMatch(/^[0-9A-F-]{36}$/i);
      checkRequestIds.add(check!.requestId!);
      const installCalls = stats.monitoringAgent.callsByInstance[instance.instanceId] ?? 0;
      if (wasRunning.has(instance.instanceId)) {
        expect(instance).toMatchObject({ state: 'skipped', attemptCount: 0, needsManualInstall: false });
        expect(instance.attempts).toHaveLength(1);
        // Named in one InstallMonitoringAgent call: the one made before the rollout.
        expect(installCalls, instance.instanceId).toBe(1);
      } else {
        expect(instance).toMatchObject({ state: 'succeeded', attemptCount: 1 });
        expect(instance.attempts.map((a) => a.kind)).toEqual(['status_check', 'install']);
        expect(installCalls, instance.instanceId).toBe(1);
      }
    }
    // Every status call's RequestId is on the rows of the instances it checked, and nothing else is.
    expect(checkRequestIds.size).toBe(describeCalls);
    expect(stats.monitoringAgent.requests - before.monitoringAgent.requests).toBe(
      new Set(facts.flatMap((i) => i.attempts.filter((a) => a.kind === 'install').map((a) => a.callId))).size,
    );
    const counts = await h.db.prisma.rolloutStateCount.findMany({ where: { rolloutId } });
    expect(Object.fromEntries(counts.filter((c) => c.count > 0).map((c) => [c.state, c.count]))).toEqual({
      skipped: running.length,
      succeeded: ids.length - running.length,
    });
  });

  it("driver install-monitoring-agent at 5 calls/s: the status checks and the install calls together keep to the account's rate", async () => {
    const RATE = 5;
    h = await startHarness({ latencyMs: 5, failureRate: 0, installDurationMs: 0, seed: 'skip-4' });
    const ids = instanceIds(60, 'i-sr');
    const running = ids.filter((_, n) => n % 4 === 0);
    await installMonitoringAgentBeforehand(h, running);
    // Those 2 calls were not on the schedule: a second later they are in no one second with the rollout's.
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const rolloutId = await h.createRollout(ids, {
      concurrency: 40,
      force: false,
      policy: { skipInstalled: true, driver: 'install-monitoring-agent' },
    });
    await h.startPool({ accountRateLimitRps: RATE, accountRateBurst: 1 });
    await h.waitForRolloutStatus(rolloutId, 'completed', 80_000);
    const stats = h.sim.stats();
    expect(stats.byAction['DescribeMonitoringAgentStatuses']).toBeGreaterThan(0);
    expect(stats.byAction['InstallMonitoringAgent']).toBeGreaterThan(0);
    // The schedule's burst is 1: no second holds more than RATE + 1 calls of the account, whichever kind.
    expect(stats.maxPerSecondByAccessKeyId[ACCESS_KEY_ID]).toBeLessThanOrEqual(RATE + 1);
    const counts = await h.db.prisma.rolloutStateCount.findMany({ where: { rolloutId } });
    expect(Object.fromEntries(counts.filter((c) => c.count > 0).map((c) => [c.state, c.count]))).toEqual({
      skipped: running.length,
      succeeded: ids.length - running.length,
    });
  }, 90_000);
});
