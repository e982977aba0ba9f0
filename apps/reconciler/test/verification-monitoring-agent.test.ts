/**
 * Install verification of rollouts with driver install-monitoring-agent, against real Postgres, Redis and the
 * simulator over HTTP: the reconciler asks DescribeMonitoringAgentStatuses (not NodeStatusList), 50 ids a call; a
 * running agent is verified, an installing one looked at again, and a host without the Cloud Assistant client
 * (not_installed, AutoInstall false) fails past the window as cloud_assistant_missing with a manual-install flag
 * saying to install Cloud Assistant first, and an instance.flagged event.
 */
import type { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { isNoCloudAssistantInstance } from '@fleet/cms-simulator';
import type { Database } from '@fleet/db';
import { listEvents, listFailureCauseCounts } from '@fleet/db';
import { manualInstallAction } from '@fleet/rollout-domain';
import { capturingLogger, uniquePrefix } from '@fleet/testing';
import type { RunningSimulator } from './support.ts';
import { ACCESS_KEY_SECRET, USER_ID, createEnqueuedRollout, makeReconciler, useReconcilerServices } from './support.ts';

const SEED = 'verify-ima-seed';
const NO_CLOUD_ASSISTANT_RATE = 0.3;
const { logger } = capturingLogger({ service: 'verification-ima-test', secrets: [ACCESS_KEY_SECRET] });
const prefix = uniquePrefix('verify-ima');
let db: Database;
let redis: Redis;
let simulator: RunningSimulator;
useReconcilerServices(
  { prefix, logger, scenario: { seed: SEED, installDurationMs: 300, noCloudAssistantRate: NO_CLOUD_ASSISTANT_RATE } },
  (services) => ({ db, redis, simulator } = services),
);

/** Instance ids with (or without) the Cloud Assistant client under the simulator's seed and rate. */
function idsWhere(n: number, label: string, cloudAssistant: boolean): string[] {
  const out: string[] = [];
  for (let i = 0; out.length < n; i++) {
    const id = `i-${label}${i.toString(36)}`;
    if (isNoCloudAssistantInstance(SEED, id, NO_CLOUD_ASSISTANT_RATE) !== cloudAssistant) out.push(id);
  }
  return out;
}

/** InstallMonitoringAgent on the simulator, 10 ids a call, as the worker's driver sends them. */
async function installMonitoringAgent(ids: readonly string[]): Promise<void> {
  for (let at = 0; at < ids.length; at += 10) {
    const result = await simulator.cms.installMonitoringAgent({ instanceIds: ids.slice(at, at + 10), force: true });
    expect(result.outcome.kind).toBe('success');
  }
}

/** A rollout of the driver whose instances all succeeded their install call at `finishedAt`. */
async function succeededRollout(
  ids: string[],
  options: { finishedAt?: Date; driver?: 'install-monitoring-agent' | 'node-install' } = {},
) {
  const driver = options.driver ?? 'install-monitoring-agent';
  const { rolloutId } = await createEnqueuedRollout(db, redis, prefix, logger, ids, { driver });
  if (driver === 'install-monitoring-agent') await installMonitoringAgent(ids);
  else for (const id of ids) await simulator.cms.nodeInstall({ userId: USER_ID, instanceId: id, force: true });
  await db.prisma.rolloutInstance.updateMany({
    where: { rolloutId },
    data: {
      state: 'succeeded',
      attemptCount: 1,
      lastRequestId: 'R-ima',
      finishedAt: options.finishedAt ?? new Date(),
    },
  });
  return rolloutId;
}

const reconciler = () => makeReconciler({ db, redis, prefix, logger, cms: simulator.cms, verifyWindowMs: 60_000 });
const instance = (rolloutId: string, instanceId: string) =>
  db.prisma.rolloutInstance.findUniqueOrThrow({ where: { rolloutId_instanceId: { rolloutId, instanceId } } });
const calls = (action: string) => simulator.sim.stats().byAction[action] ?? 0;

describe('install verification with driver install-monitoring-agent', () => {
  it('looks again at an installing agent, then verifies it running, asking DescribeMonitoringAgentStatuses only', async () => {
    const [id] = idsWhere(1, 'imaok', true);
    simulator.sim.setScenario({ installDurationMs: 2000 });
    const rolloutId = await succeededRollout([id!]);
    const before = { describe: calls('DescribeMonitoringAgentStatuses'), list: calls('NodeStatusList') };
    const r = reconciler();
    expect((await r.runOnce()).verification).toMatchObject({ armed: 1, verified: 0, waiting: 1 });
    expect(await instance(rolloutId, id!)).toMatchObject({ verification: 'pending', agentStatus: 'installing' });
    let verified = 0;
    for (const deadline = Date.now() + 15_000; verified === 0 && Date.now() < deadline;) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      verified = (await r.runOnce()).verification.verified;
    }
    expect(verified).toBe(1);
    expect(await instance(rolloutId, id!)).toMatchObject({
      state: 'succeeded',
      verification: 'verified',
      agentStatus: 'running',
      needsManualInstall: false,
    });
    expect(calls('DescribeMonitoringAgentStatuses') - before.describe).toBeGreaterThanOrEqual(2);
    expect(calls('NodeStatusList')).toBe(before.list);
    await r.stop();
    simulator.sim.setScenario({ installDurationMs: 300 });
  });

  it('fails a host without Cloud Assistant as cloud_assistant_missing once the window passed, with its flag and event', async () => {
    const [early] = idsWhere(1, 'imanoca', false);
    const [late, healthy] = [idsWhere(1, 'imanocb', false)[0]!, idsWhere(1, 'imaokb', true)[0]!];
    const fresh = await succeededRollout([early!]);
    const old = await succeededRollout([late, healthy], { finishedAt: new Date(Date.now() - 120_000) });
    await new Promise((resolve) => setTimeout(resolve, 350));
    const r = reconciler();
    const report = (await r.runOnce()).verification;
    expect(report).toMatchObject({ flagged: 1, verified: 1 });

    // Within its window it is only waited for: the host's status alone is not yet a verdict.
    expect(await instance(fresh, early!)).toMatchObject({
      verification: 'pending',
      agentStatus: 'not_installed',
      needsManualInstall: false,
    });
    expect(await instance(old, healthy)).toMatchObject({ verification: 'verified', agentStatus: 'running' });
    expect(await instance(old, late)).toMatchObject({
      state: 'succeeded',
      verification: 'failed',
      agentStatus: 'not_installed',
      needsManualInstall: true,
      manualInstallReason: 'cloud_assistant_missing',
    });
    const flag = await db.prisma.manualInstallFlag.findFirstOrThrow({
      where: { rolloutId: old, instanceId: late },
      include: { events: true },
    });
    expect(flag).toMatchObject({ status: 'open', reason: 'cloud_assistant_missing', lastRequestId: 'R-ima' });
    expect(flag.detail).toContain('Cloud Assistant');
    expect(flag.events.map((e) => e.action)).toEqual(['flagged']);
    // What the operator is told to do for the flag's reason: Cloud Assistant first.
    expect(manualInstallAction(flag.reason)).toMatch(/install the Cloud Assistant client on the instance first/);

    // The outbox row of the flag, written with it.
    const events = (await listEvents(db, { rolloutId: old, type: 'instance.flagged', limit: 10 })).events;
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      actor: { kind: 'reconciler' },
      data: { instanceId: late, reason: 'cloud_assistant_missing', action: 'flagged', flagId: flag.id.toString() },
    });

    // The failure report's group of its own.
    const causes = await listFailureCauseCounts(db, old);
    expect(causes).toEqual([
      expect.objectContaining({
        cause:
          'agent:not_installed: InstallMonitoringAgent succeeded but the host has no Cloud Assistant client ' +
          '(AutoInstall false), so the agent was never installed',
        kind: 'verification_failed',
        manualInstallReason: 'cloud_assistant_missing',
        count: 1,
      }),
    ]);
    await r.stop();
  });

  it('asks 50 ids a call: 120 instances take 3 DescribeMonitoringAgentStatuses calls, a node-install rollout NodeStatusList', async () => {
    const ids = idsWhere(120, 'imabatch', true);
    const legacy = idsWhere(30, 'imalegacy', true);
    const rolloutId = await succeededRollout(ids);
    const legacyRolloutId = await succeededRollout(legacy, { driver: 'node-install' });
    await new Promise((resolve) => setTimeout(resolve, 350));
    const before = { describe: calls('DescribeMonitoringAgentStatuses'), list: calls('NodeStatusList') };
    const r = reconciler();
    const report = (await r.runOnce()).verification;
    expect(report).toMatchObject({ verified: 150, lookupErrors: 0 });
    // The simulator refuses more than 50 ids a call, so 3 successful calls for 120 are calls of 50, 50 and 20.
    expect(calls('DescribeMonitoringAgentStatuses') - before.describe).toBe(3);
    expect(calls('NodeStatusList') - before.list).toBe(1);
    expect(await db.prisma.rolloutInstance.count({ where: { rolloutId, verification: 'verified' } })).toBe(120);
    expect(
      await db.prisma.rolloutInstance.count({ where: { rolloutId: legacyRolloutId, verification: 'verified' } }),
    ).toBe(30);
    await r.stop();
  });
});
