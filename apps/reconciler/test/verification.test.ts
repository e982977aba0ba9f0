/**
 * Install verification and manual-install flags, against real Postgres, Redis and the simulator over HTTP: after a
 * successful NodeInstall the agent must report running in NodeStatus within the window, or the instance is flagged
 * for manual installation with the right reason; operators' resolutions are re-verified.
 */
import type { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { isAgentFailingInstance, isUnknownInstance } from '@fleet/cms-simulator';
import { listEvents, setParentRollout, transitionManualInstallFlag } from '@fleet/db';
import type { Database } from '@fleet/db';
import { capturingLogger, deleteKeysWithPrefix, uniquePrefix } from '@fleet/testing';
import type { RunningSimulator } from './support.ts';
import { ACCESS_KEY_SECRET, USER_ID, createEnqueuedRollout, makeReconciler, useReconcilerServices } from './support.ts';

const SEED = 'verify-seed';
const AGENT_FAILURE_RATE = 0.3;
const NOT_FOUND_RATE = 0.3;
const { logger, lines } = capturingLogger({ service: 'verification-test', secrets: [ACCESS_KEY_SECRET] });
const prefix = uniquePrefix('verify');
let db: Database;
let redis: Redis;
let simulator: RunningSimulator;
useReconcilerServices(
  {
    prefix,
    logger,
    scenario: {
      seed: SEED,
      installDurationMs: 300,
      agentFailureRate: AGENT_FAILURE_RATE,
      notFoundRate: NOT_FOUND_RATE,
    },
  },
  (services) => ({ db, redis, simulator } = services),
);
afterEach(() => {
  simulator.sim.setScenario({ errorRate500: 0, installDurationMs: 300 });
});

/** The events of `type` of a rollout (the outbox rows), oldest first. */
async function eventsOf(rolloutId: string, type: 'instance.flagged' | 'flag.reopened' | 'flag.resolved') {
  return (await listEvents(db, { rolloutId, type, limit: 1000 })).events;
}

/** Instance ids with the wanted fate under the simulator's seed and rates. */
function idsWhere(n: number, label: string, fate: 'healthy' | 'agent_fails' | 'unknown'): string[] {
  const out: string[] = [];
  for (let i = 0; out.length < n; i++) {
    const id = `i-${label}${i.toString(36)}`;
    const agentFails = isAgentFailingInstance(SEED, id, AGENT_FAILURE_RATE);
    const unknown = isUnknownInstance(SEED, id, NOT_FOUND_RATE);
    if (
      (fate === 'healthy' && !agentFails && !unknown) ||
      (fate === 'agent_fails' && agentFails && !unknown) ||
      (fate === 'unknown' && unknown)
    )
      out.push(id);
  }
  return out;
}

/** A rollout whose instances all "succeeded" NodeInstall at `finishedAt` (the simulator is told for those in `installOnSimulator`). */
async function succeededRollout(ids: string[], options: { finishedAt?: Date; installOnSimulator?: string[] } = {}) {
  const { rolloutId, instances } = await createEnqueuedRollout(db, redis, prefix, logger, ids);
  for (const id of options.installOnSimulator ?? ids) {
    const result = await simulator.cms.nodeInstall({ userId: USER_ID, instanceId: id, force: true });
    expect(result.outcome.kind).toBe('success');
  }
  await db.prisma.rolloutInstance.updateMany({
    where: { rolloutId },
    data: {
      state: 'succeeded',
      attemptCount: 1,
      lastRequestId: 'R-install',
      finishedAt: options.finishedAt ?? new Date(),
    },
  });
  return { rolloutId, instances };
}

const reconciler = (verifyWindowMs = 60_000) =>
  makeReconciler({ db, redis, prefix, logger, cms: simulator.cms, verifyWindowMs });
const instance = (rolloutId: string, instanceId: string) =>
  db.prisma.rolloutInstance.findUniqueOrThrow({ where: { rolloutId_instanceId: { rolloutId, instanceId } } });
const flagOf = (rolloutId: string, instanceId: string) =>
  db.prisma.manualInstallFlag.findFirst({
    where: { rolloutId, instanceId },
    include: { events: { orderBy: { id: 'asc' } } },
  });

describe('install verification', () => {
  it('waits while the agent is installing, then marks the instance verified once NodeStatus reports running', async () => {
    const [id] = idsWhere(1, 'ok', 'healthy');
    // Installing long enough that a loaded machine still sees it installing on the first pass.
    simulator.sim.setScenario({ installDurationMs: 2000 });
    const { rolloutId } = await succeededRollout([id!]);
    const r = reconciler();
    const first = await r.runOnce();
    expect(first.verification).toMatchObject({ armed: 1, verified: 0 });
    expect(await instance(rolloutId, id!)).toMatchObject({
      state: 'succeeded',
      verification: 'pending',
      agentStatus: 'installing',
    });
    let verifiedInPass = 0;
    for (const deadline = Date.now() + 15_000; verifiedInPass === 0 && Date.now() < deadline;) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      verifiedInPass = (await r.runOnce()).verification.verified;
    }
    expect(verifiedInPass).toBeGreaterThanOrEqual(1);
    const verified = await instance(rolloutId, id!);
    expect(verified).toMatchObject({
      state: 'succeeded',
      verification: 'verified',
      agentStatus: 'running',
      needsManualInstall: false,
    });
    expect(verified.verifiedAt).not.toBeNull();
    expect(await flagOf(rolloutId, id!)).toBeNull();
    await r.stop();
  });

  it('flags an agent that failed to install on the host (install_faild) at once, keeping the install succeeded', async () => {
    const [id] = idsWhere(1, 'bad', 'agent_fails');
    const { rolloutId } = await succeededRollout([id!]);
    await new Promise((resolve) => setTimeout(resolve, 350));
    const r = reconciler();
    expect((await r.runOnce()).verification.flagged).toBe(1);
    expect(await instance(rolloutId, id!)).toMatchObject({
      state: 'succeeded',
      verification: 'failed',
      agentStatus: 'install_faild',
      needsManualInstall: true,
      manualInstallReason: 'install_failed_on_host',
    });
    const flag = await flagOf(rolloutId, id!);
    expect(flag).toMatchObject({
      status: 'open',
      reason: 'install_failed_on_host',
      userId: USER_ID,
      lastRequestId: 'R-install',
    });
    expect(flag!.events.map((e) => e.action)).toEqual(['flagged']);
    expect(lines.some((l) => l.includes('flagged for manual installation') && l.includes(rolloutId))).toBe(true);
    await r.stop();
  });

  it('flags agent_not_running when the window passed without the agent running, but not before', async () => {
    const [early, late] = idsWhere(2, 'never', 'healthy');
    // NodeInstall "succeeded" but the simulator never heard of it: the agent stays not_installed.
    const { rolloutId } = await succeededRollout([early!], { installOnSimulator: [] });
    const old = await succeededRollout([late!], { installOnSimulator: [], finishedAt: new Date(Date.now() - 120_000) });
    const r = reconciler();
    await r.runOnce();
    expect(await instance(rolloutId, early!)).toMatchObject({
      verification: 'pending',
      agentStatus: 'not_installed',
      needsManualInstall: false,
    });
    expect(await instance(old.rolloutId, late!)).toMatchObject({
      verification: 'failed',
      agentStatus: 'not_installed',
      manualInstallReason: 'agent_not_running',
    });
    expect(await flagOf(old.rolloutId, late!)).toMatchObject({ status: 'open', reason: 'agent_not_running' });
    await r.stop();
  });

  it('keeps waiting through failing status calls, even past the deadline, and decides once the calls work again', async () => {
    const [id] = idsWhere(1, 'flaky', 'healthy');
    const { rolloutId } = await succeededRollout([id!], { finishedAt: new Date(Date.now() - 120_000) });
    await new Promise((resolve) => setTimeout(resolve, 350));
    simulator.sim.setScenario({ errorRate500: 1 });
    const r = reconciler();
    const report = await r.runOnce();
    expect(report.verification.lookupErrors).toBeGreaterThanOrEqual(1);
    expect(await instance(rolloutId, id!)).toMatchObject({ verification: 'pending', needsManualInstall: false });
    simulator.sim.setScenario({ errorRate500: 0, installDurationMs: 300 });
    await r.runOnce();
    expect(await instance(rolloutId, id!)).toMatchObject({ verification: 'verified' });
    await r.stop();
  });

  it('flags instance_not_found when NodeStatusList does not know the instance after the window', async () => {
    const [id] = idsWhere(1, 'ghost', 'unknown');
    const { rolloutId } = await succeededRollout([id!], {
      installOnSimulator: [],
      finishedAt: new Date(Date.now() - 120_000),
    });
    const r = reconciler();
    await r.runOnce();
    expect(await instance(rolloutId, id!)).toMatchObject({
      verification: 'failed',
      manualInstallReason: 'instance_not_found',
    });
    await r.stop();
  });
});

describe('manual-install flags', () => {
  it('raises exactly one flag with a flagged event per failed install, even with two reconcilers at once', async () => {
    const ids = ['i-flagfail1', 'i-flagfail2', 'i-flagfail3'];
    const { rolloutId } = await createEnqueuedRollout(db, redis, prefix, logger, ids);
    await db.prisma.rolloutInstance.updateMany({
      where: { rolloutId },
      data: {
        state: 'failed',
        finishedAt: new Date(),
        attemptCount: 1,
        needsManualInstall: true,
        manualInstallReason: 'no_server_guard_agent',
        lastErrorCode: '400',
        lastErrorMessage: 'The Server Guard (Aegis) agent is not installed',
        lastRequestId: 'R-fail',
      },
    });
    // Two replicas at a hand-over: each believes it leads for one pass.
    const a = makeReconciler({ db, redis, prefix: `${prefix}-a`, logger, cms: simulator.cms });
    const b = makeReconciler({ db, redis, prefix: `${prefix}-b`, logger, cms: simulator.cms });
    const [ra, rb] = await Promise.all([a.runOnce(), b.runOnce()]);
    expect(ra.flagsRaised + rb.flagsRaised).toBe(3);
    const flags = await db.prisma.manualInstallFlag.findMany({ where: { rolloutId }, include: { events: true } });
    expect(flags).toHaveLength(3);
    for (const flag of flags) {
      expect(flag).toMatchObject({
        status: 'open',
        reason: 'no_server_guard_agent',
        lastRequestId: 'R-fail',
        userId: USER_ID,
      });
      expect(flag.detail).toContain('Server Guard');
      expect(flag.events.map((e) => e.action)).toEqual(['flagged']);
    }
    // One instance.flagged per flag raised, by whichever replica raised it, and none from the second pass.
    expect((await a.runOnce()).flagsRaised).toBe(0);
    const flagged = await eventsOf(rolloutId, 'instance.flagged');
    expect(flagged.map((e) => (e.data as { instanceId: string }).instanceId).sort()).toEqual(ids);
    expect(
      flagged.every((e) => e.actor.kind === 'reconciler' && (e.data as { action: string }).action === 'flagged'),
    ).toBe(true);
    expect(new Set(flagged.map((e) => (e.data as { flagId: string }).flagId))).toEqual(
      new Set(flags.map((f) => f.id.toString())),
    );
    await a.stop();
    await b.stop();
    // The replicas' own prefixes are not under the file's, which the shared clean-up removes.
    await Promise.all([deleteKeysWithPrefix(`${prefix}-a`), deleteKeysWithPrefix(`${prefix}-b`)]);
  });

  it('keeps one flag per host through a rollout and two retries failing on the same hosts', async () => {
    const ids = ['i-retryfail1', 'i-retryfail2', 'i-retryfail3'];
    const r = reconciler();
    const rollouts: string[] = [];
    const reports = [];
    for (const round of [0, 1, 2]) {
      const { rolloutId } = await createEnqueuedRollout(db, redis, prefix, logger, ids, { enqueue: false });
      if (round > 0) await setParentRollout(db, rolloutId, rollouts[round - 1]!);
      await db.prisma.rolloutInstance.updateMany({
        where: { rolloutId },
        data: {
          state: 'failed',
          finishedAt: new Date(),
          attemptCount: 3,
          needsManualInstall: true,
          manualInstallReason: round === 0 ? 'no_server_guard_agent' : 'retries_exhausted',
          lastRequestId: `R-round${round}`,
        },
      });
      rollouts.push(rolloutId);
      const report = await r.runOnce();
      reports.push({ raised: report.flagsRaised, carried: report.flagsCarried });
    }
    expect(reports).toEqual([
      { raised: 3, carried: 0 },
      { raised: 0, carried: 3 },
      { raised: 0, carried: 3 },
    ]);
    const flags = await db.prisma.manualInstallFlag.findMany({
      where: { userId: USER_ID, instanceId: { in: ids } },
      include: { events: { orderBy: { id: 'asc' } }, occurrences: true },
    });
    expect(flags).toHaveLength(3);
    for (const flag of flags) {
      expect(flag).toMatchObject({
        status: 'open',
        rolloutId: rollouts[2],
        reason: 'retries_exhausted',
        lastRequestId: 'R-round2',
      });
      expect(flag.events.map((e) => [e.action, (e.detail as { rolloutId: string }).rolloutId])).toEqual([
        ['flagged', rollouts[0]],
        ['reflagged', rollouts[1]],
        ['reflagged', rollouts[2]],
      ]);
      expect(flag.occurrences.map((o) => o.rolloutId).sort()).toEqual([...rollouts].sort());
    }
    expect(
      lines.some((l) => {
        const line = JSON.parse(l);
        return line.message === 'flagged instances for manual installation' && line.rolloutId === rollouts[2];
      }),
    ).toBe(true);
    // Nothing more to raise on the next pass, for any of the three.
    expect(await r.runOnce()).toMatchObject({ flagsRaised: 0, flagsCarried: 0 });
    // Each rollout's timeline has one instance.flagged per host: a new flag first, the same flag carried after.
    for (const [round, rolloutId] of rollouts.entries()) {
      const flagged = await eventsOf(rolloutId, 'instance.flagged');
      expect(flagged.map((e) => (e.data as { action: string }).action)).toEqual(
        ids.map(() => (round === 0 ? 'flagged' : 'reflagged')),
      );
    }
    await r.stop();
  });

  it('re-verifies a flag an operator resolved: running keeps it resolved (reverified), still failing reopens it', async () => {
    const [fixed] = idsWhere(1, 'fixed', 'healthy');
    const [broken] = idsWhere(1, 'broken', 'agent_fails');
    const { rolloutId } = await succeededRollout([fixed!, broken!], {
      installOnSimulator: [broken!],
      finishedAt: new Date(Date.now() - 120_000),
    });
    await new Promise((resolve) => setTimeout(resolve, 350));
    const r = reconciler();
    await r.runOnce();
    const fixedFlag = await flagOf(rolloutId, fixed!);
    const brokenFlag = await flagOf(rolloutId, broken!);
    expect(fixedFlag).toMatchObject({ status: 'open', reason: 'agent_not_running' });
    expect(brokenFlag).toMatchObject({ status: 'open', reason: 'install_failed_on_host' });

    // The operator logs on and installs by hand (the simulator now has the agent on `fixed`), then resolves both.
    await simulator.cms.nodeInstall({ userId: USER_ID, instanceId: fixed!, force: true });
    for (const flag of [fixedFlag!, brokenFlag!]) {
      const resolved = await transitionManualInstallFlag(db, {
        flagId: flag.id,
        event: { type: 'resolve' },
        actor: 'ops@example',
        note: 'installed by hand',
      });
      expect(resolved).toMatchObject({ kind: 'changed', to: 'resolved' });
    }
    expect(await instance(rolloutId, fixed!)).toMatchObject({ verification: 'pending', verifyDeadlineAt: null });
    await new Promise((resolve) => setTimeout(resolve, 350));
    const report = await r.runOnce();
    expect(report.verification).toMatchObject({ rearmed: 2, reverified: 1, reopened: 1 });

    const after = { fixed: await flagOf(rolloutId, fixed!), broken: await flagOf(rolloutId, broken!) };
    expect(after.fixed).toMatchObject({ status: 'resolved', resolvedBy: 'ops@example' });
    expect(after.fixed!.events.map((e) => e.action)).toEqual(['flagged', 'resolved', 'reverified']);
    expect(await instance(rolloutId, fixed!)).toMatchObject({ verification: 'verified', agentStatus: 'running' });
    expect(after.broken).toMatchObject({ status: 'open' });
    expect(after.broken!.events.map((e) => e.action)).toEqual(['flagged', 'resolved', 'reopened']);
    expect((await eventsOf(rolloutId, 'flag.resolved')).length).toBe(2);
    const reopened = await eventsOf(rolloutId, 'flag.reopened');
    expect(reopened).toHaveLength(1);
    expect(reopened[0]).toMatchObject({
      actor: { kind: 'reconciler' },
      data: { flagId: brokenFlag!.id.toString(), instanceId: broken, reason: 'install_failed_on_host' },
    });
    await r.stop();
  });

  it('never writes the CMS AccessKey secret to a log line', () => {
    expect(lines.length).toBeGreaterThan(0);
    expect(lines.some((l) => l.includes(ACCESS_KEY_SECRET))).toBe(false);
  });
});
