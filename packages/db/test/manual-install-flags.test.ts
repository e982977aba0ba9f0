import { describe, expect, it } from 'vitest';
import {
  armInstallVerification,
  armReverification,
  countManualInstallFlags,
  failInstallVerification,
  findManualInstallFlag,
  insertRollout,
  listManualInstallFlags,
  listPendingVerifications,
  markInstancesVerified,
  raiseMissingManualInstallFlags,
  recordAgentStatuses,
  transitionManualInstallFlag,
} from '../src/index.ts';
import type { Database } from '../src/index.ts';
import { useTestDatabase } from './support.ts';

let db: Database;
useTestDatabase({ poolMax: 10 }, (opened) => (db = opened));

const USER = '1234567898765432';
const NOTHING_RAISED = { flagged: 0, reflagged: 0, reopened: 0 };
async function rolloutOf(ids: string[], userId = USER) {
  const { rollout, instances } = await insertRollout(db, {
    userId,
    force: false,
    concurrency: 5,
    maxAttempts: 3,
    policy: {},
    instanceIds: ids,
  });
  return { rolloutId: rollout.id, instances };
}
async function failInstalls(rolloutId: string) {
  await db.prisma.rolloutInstance.updateMany({
    where: { rolloutId },
    data: {
      state: 'failed',
      finishedAt: new Date(),
      needsManualInstall: true,
      manualInstallReason: 'instance_not_found',
      lastErrorCode: 'InvalidInstanceId.NotFound',
      lastErrorMessage: 'gone',
      lastRequestId: 'R-9',
    },
  });
}

describe('raiseMissingManualInstallFlags', () => {
  it('raises one open flag with a flagged event per instance needing a manual install, once, even when run concurrently', async () => {
    const { rolloutId } = await rolloutOf(['i-ra1', 'i-ra2', 'i-ra3']);
    await failInstalls(rolloutId);
    const raised = await Promise.all([
      raiseMissingManualInstallFlags(db, rolloutId),
      raiseMissingManualInstallFlags(db, rolloutId),
    ]);
    expect(raised[0].flagged + raised[1].flagged).toBe(3);
    expect(await raiseMissingManualInstallFlags(db, rolloutId)).toEqual(NOTHING_RAISED);
    const flags = await db.prisma.manualInstallFlag.findMany({ where: { rolloutId }, include: { events: true } });
    expect(flags).toHaveLength(3);
    expect(flags[0]).toMatchObject({
      status: 'open',
      reason: 'instance_not_found',
      detail: 'InvalidInstanceId.NotFound: gone',
      lastRequestId: 'R-9',
      userId: USER,
    });
    expect(
      flags.every(
        (f) => f.events.length === 1 && f.events[0]!.action === 'flagged' && f.events[0]!.actor === 'reconciler',
      ),
    ).toBe(true);
    expect(await countManualInstallFlags(db, rolloutId)).toEqual({ open: 3, acknowledged: 0, resolved: 0, closed: 0 });
  });
});

describe('transitionManualInstallFlag', () => {
  it('moves a flag through acknowledge and resolve with events; unchanged repeats write nothing; refusals say why', async () => {
    const { rolloutId } = await rolloutOf(['i-tr1']);
    await failInstalls(rolloutId);
    await raiseMissingManualInstallFlags(db, rolloutId);
    const flag = await db.prisma.manualInstallFlag.findFirstOrThrow({ where: { rolloutId } });
    const at = new Date('2026-02-01T00:00:00Z');
    expect(
      await transitionManualInstallFlag(db, { flagId: flag.id, event: { type: 'acknowledge' }, actor: 'ann', now: at }),
    ).toMatchObject({
      kind: 'changed',
      from: 'open',
      to: 'acknowledged',
      flag: { acknowledgedBy: 'ann', acknowledgedAt: at },
    });
    expect(
      await transitionManualInstallFlag(db, { flagId: flag.id, event: { type: 'acknowledge' }, actor: 'bob' }),
    ).toMatchObject({ kind: 'unchanged', flag: { acknowledgedBy: 'ann' } });
    const resolved = await transitionManualInstallFlag(db, {
      flagId: flag.id,
      event: { type: 'resolve' },
      actor: 'ann',
      note: 'installed by hand',
    });
    expect(resolved).toMatchObject({
      kind: 'changed',
      to: 'resolved',
      flag: { note: 'installed by hand', resolvedBy: 'ann' },
    });
    expect(await db.prisma.rolloutInstance.findUniqueOrThrow({ where: { id: flag.rolloutInstanceId } })).toMatchObject({
      verification: 'pending',
      verifyDeadlineAt: null,
    });
    expect(
      await transitionManualInstallFlag(db, { flagId: flag.id, event: { type: 'acknowledge' }, actor: 'bob' }),
    ).toMatchObject({ kind: 'refused', reason: 'a resolved flag cannot be acknowledged' });
    expect(
      await transitionManualInstallFlag(db, { flagId: 987654321n, event: { type: 'close' }, actor: 'bob' }),
    ).toEqual({ kind: 'missing' });
    const detail = await findManualInstallFlag(db, flag.id);
    expect(detail!.events.map((e) => [e.action, e.actor, e.note])).toEqual([
      ['flagged', 'reconciler', null],
      ['acknowledged', 'ann', null],
      ['resolved', 'ann', 'installed by hand'],
    ]);
    expect(detail!.instance).toMatchObject({ state: 'failed', verification: 'pending' });
  });

  it('lets exactly one of many concurrent moves of the same flag change it', async () => {
    const { rolloutId } = await rolloutOf(['i-tr2']);
    await failInstalls(rolloutId);
    await raiseMissingManualInstallFlags(db, rolloutId);
    const flag = await db.prisma.manualInstallFlag.findFirstOrThrow({ where: { rolloutId } });
    const results = await Promise.all(
      Array.from({ length: 5 }, (_, i) =>
        transitionManualInstallFlag(db, { flagId: flag.id, event: { type: 'close' }, actor: `op${i}` }),
      ),
    );
    expect(results.filter((r) => r.kind === 'changed')).toHaveLength(1);
    expect(results.filter((r) => r.kind === 'unchanged')).toHaveLength(4);
    expect(await db.prisma.manualInstallFlagEvent.count({ where: { flagId: flag.id, action: 'closed' } })).toBe(1);
  });
});

describe('listManualInstallFlags', () => {
  it('pages through the flags of the accounts asked for, by status and rollout', async () => {
    const other = '2222222222222222';
    const a = await rolloutOf(['i-la1', 'i-la2', 'i-la3'], other);
    const b = await rolloutOf(['i-lb1'], other);
    await failInstalls(a.rolloutId);
    await failInstalls(b.rolloutId);
    await raiseMissingManualInstallFlags(db, a.rolloutId);
    await raiseMissingManualInstallFlags(db, b.rolloutId);
    const first = await listManualInstallFlags(db, { userIds: [other], limit: 3 });
    expect(first.flags).toHaveLength(3);
    const second = await listManualInstallFlags(db, { userIds: [other], limit: 3, after: first.nextCursor! });
    expect(second).toMatchObject({ nextCursor: null });
    expect([...first.flags, ...second.flags].map((f) => f.instanceId).sort()).toEqual([
      'i-la1',
      'i-la2',
      'i-la3',
      'i-lb1',
    ]);
    expect(
      (await listManualInstallFlags(db, { userIds: null, userId: other, rolloutId: b.rolloutId, limit: 10 })).flags.map(
        (f) => f.instanceId,
      ),
    ).toEqual(['i-lb1']);
    expect((await listManualInstallFlags(db, { userIds: [USER], userId: other, limit: 10 })).flags).toEqual([]);
    expect((await listManualInstallFlags(db, { userIds: [other], status: 'closed', limit: 10 })).flags).toEqual([]);
  });
});

describe('install verification writes', () => {
  it('arms succeeded instances once, verifies them, and records what the agent reported while pending', async () => {
    const { rolloutId, instances } = await rolloutOf(['i-v1', 'i-v2', 'i-v3']);
    const finishedAt = new Date(Date.now() - 1000);
    await db.prisma.rolloutInstance.updateMany({ where: { rolloutId }, data: { state: 'succeeded', finishedAt } });
    expect(await armInstallVerification(db, rolloutId, 60_000)).toBe(3);
    expect(await armInstallVerification(db, rolloutId, 60_000)).toBe(0);
    const armed = await db.prisma.rolloutInstance.findUniqueOrThrow({ where: { id: instances[0]!.id } });
    expect(armed.verifyDeadlineAt!.getTime()).toBe(finishedAt.getTime() + 60_000);
    const pending = (await listPendingVerifications(db, { limit: 1000 })).filter((p) => p.rolloutId === rolloutId);
    expect(pending.map((p) => p.instanceId)).toEqual(['i-v1', 'i-v2', 'i-v3']);
    expect(await markInstancesVerified(db, [instances[0]!.id, instances[1]!.id])).toEqual({
      verified: 2,
      reverified: 0,
    });
    expect(await markInstancesVerified(db, [instances[0]!.id])).toEqual({ verified: 0, reverified: 0 });
    await recordAgentStatuses(db, [{ id: instances[2]!.id, agentStatus: 'installing' }]);
    expect(await db.prisma.rolloutInstance.findUniqueOrThrow({ where: { id: instances[2]!.id } })).toMatchObject({
      verification: 'pending',
      agentStatus: 'installing',
    });
  });

  it('fails a verification into a flag once; a second reconciler finds it decided', async () => {
    const { rolloutId, instances } = await rolloutOf(['i-vf1']);
    await db.prisma.rolloutInstance.updateMany({
      where: { rolloutId },
      data: { state: 'succeeded', finishedAt: new Date(), lastRequestId: 'R-ok' },
    });
    await armInstallVerification(db, rolloutId, 1);
    const input = {
      rolloutInstanceId: instances[0]!.id,
      reason: 'agent_not_running' as const,
      agentStatus: 'not_installed',
      detail: 'still not_installed',
    };
    const [a, b] = await Promise.all([failInstallVerification(db, input), failInstallVerification(db, input)]);
    expect([a.kind, b.kind].sort()).toEqual(['flagged', 'stale']);
    expect(await db.prisma.rolloutInstance.findUniqueOrThrow({ where: { id: instances[0]!.id } })).toMatchObject({
      state: 'succeeded',
      verification: 'failed',
      needsManualInstall: true,
      manualInstallReason: 'agent_not_running',
      agentStatus: 'not_installed',
    });
    expect(await db.prisma.manualInstallFlag.findFirstOrThrow({ where: { rolloutId } })).toMatchObject({
      reason: 'agent_not_running',
      detail: 'still not_installed',
      lastRequestId: 'R-ok',
      status: 'open',
    });
    expect(await raiseMissingManualInstallFlags(db, rolloutId)).toEqual(NOTHING_RAISED);
  });

  it('re-verifies a resolved flag: the window starts when armed; running writes reverified, failing reopens', async () => {
    const { rolloutId, instances } = await rolloutOf(['i-rv1', 'i-rv2']);
    await failInstalls(rolloutId);
    await raiseMissingManualInstallFlags(db, rolloutId);
    const flags = await db.prisma.manualInstallFlag.findMany({ where: { rolloutId }, orderBy: { instanceId: 'asc' } });
    for (const flag of flags)
      await transitionManualInstallFlag(db, {
        flagId: flag.id,
        event: { type: 'resolve' },
        actor: 'ops',
        note: 'done',
      });
    const now = new Date();
    expect(await armReverification(db, 5000, now)).toBeGreaterThanOrEqual(2);
    expect(
      (
        await db.prisma.rolloutInstance.findUniqueOrThrow({ where: { id: instances[0]!.id } })
      ).verifyDeadlineAt!.getTime(),
    ).toBe(now.getTime() + 5000);
    expect(await markInstancesVerified(db, [instances[0]!.id])).toEqual({ verified: 1, reverified: 1 });
    expect(
      await failInstallVerification(db, {
        rolloutInstanceId: instances[1]!.id,
        reason: 'agent_not_running',
        agentStatus: 'stopped',
        detail: 'stopped',
      }),
    ).toMatchObject({ kind: 'reopened' });
    const after = await db.prisma.manualInstallFlag.findMany({
      where: { rolloutId },
      orderBy: { instanceId: 'asc' },
      include: { events: { orderBy: { id: 'asc' } } },
    });
    expect(after.map((f) => [f.status, f.events.map((e) => e.action)])).toEqual([
      ['resolved', ['flagged', 'resolved', 'reverified']],
      ['open', ['flagged', 'resolved', 'reopened']],
    ]);
    // The instance keeps the reason it needed a manual install for in the first place.
    expect(await db.prisma.rolloutInstance.findUniqueOrThrow({ where: { id: instances[1]!.id } })).toMatchObject({
      state: 'failed',
      verification: 'failed',
      manualInstallReason: 'instance_not_found',
    });
  });
});
