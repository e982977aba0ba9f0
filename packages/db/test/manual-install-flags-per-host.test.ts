/**
 * Manual-install flags are per host (account UserId + instance id), carried across the rollouts that fail on it:
 * a rollout and its retries failing on the same hosts leave one flag per host, which every one of those rollouts
 * finds, and resolving or closing it ends it for the host.
 */
import { describe, expect, it } from 'vitest';
import {
  armInstallVerification,
  countManualInstallFlags,
  failInstallVerification,
  findManualInstallFlag,
  insertRollout,
  iterateReportInstances,
  listManualInstallFlags,
  raiseMissingManualInstallFlags,
  setParentRollout,
  transitionManualInstallFlag,
} from '../src/index.ts';
import type { Database, ReportInstanceRow } from '../src/index.ts';
import { useTestDatabase } from './support.ts';

let db: Database;
useTestDatabase({ poolMax: 10 }, (opened) => (db = opened));

const USER = '3333333333333333';

/** A finished rollout of `ids` whose installs all failed for good (the worker set the reason), a retry of `parent`. */
async function failedRollout(ids: string[], options: { parent?: string; reason?: string; userId?: string } = {}) {
  const { rollout, instances } = await insertRollout(db, {
    userId: options.userId ?? USER,
    force: false,
    concurrency: 5,
    maxAttempts: 2,
    policy: {},
    instanceIds: ids,
  });
  if (options.parent) await setParentRollout(db, rollout.id, options.parent);
  await db.prisma.rolloutInstance.updateMany({
    where: { rolloutId: rollout.id },
    data: {
      state: 'failed',
      attemptCount: 2,
      finishedAt: new Date(),
      needsManualInstall: true,
      manualInstallReason: options.reason ?? 'no_server_guard_agent',
      lastErrorCode: '400',
      lastErrorMessage: `Server Guard offline (${rollout.id.slice(0, 8)})`,
      lastRequestId: `R-${rollout.id.slice(0, 8)}`,
    },
  });
  return { rolloutId: rollout.id, instances };
}

const hostFlags = (instanceIds: string[], userId = USER) =>
  db.prisma.manualInstallFlag.findMany({
    where: { userId, instanceId: { in: instanceIds } },
    include: { events: { orderBy: { id: 'asc' } }, occurrences: true },
    orderBy: { instanceId: 'asc' },
  });

async function reportRows(rolloutId: string): Promise<ReportInstanceRow[]> {
  const rows: ReportInstanceRow[] = [];
  for await (const page of iterateReportInstances(db, rolloutId, { scope: 'failures' })) rows.push(...page);
  return rows;
}

describe('flags across retries', () => {
  it('leaves one flag per host after a rollout and two retries fail on the same hosts; every rollout finds it', async () => {
    const hosts = ['i-ph1', 'i-ph2', 'i-ph3'];
    const original = await failedRollout(hosts);
    expect(await raiseMissingManualInstallFlags(db, original.rolloutId)).toEqual({
      flagged: 3,
      reflagged: 0,
      reopened: 0,
    });
    const firstRetry = await failedRollout(hosts, { parent: original.rolloutId });
    expect(await raiseMissingManualInstallFlags(db, firstRetry.rolloutId)).toEqual({
      flagged: 0,
      reflagged: 3,
      reopened: 0,
    });
    const secondRetry = await failedRollout(hosts, { parent: firstRetry.rolloutId, reason: 'retries_exhausted' });
    expect(await raiseMissingManualInstallFlags(db, secondRetry.rolloutId)).toEqual({
      flagged: 0,
      reflagged: 3,
      reopened: 0,
    });
    // Raising again finds every rollout instance already flagged.
    for (const r of [original, firstRetry, secondRetry])
      expect(await raiseMissingManualInstallFlags(db, r.rolloutId)).toEqual({ flagged: 0, reflagged: 0, reopened: 0 });

    const flags = await hostFlags(hosts);
    expect(flags.map((f) => f.instanceId)).toEqual(hosts);
    for (const flag of flags) {
      expect(flag).toMatchObject({
        status: 'open',
        // The latest rollout's failure, shown first.
        rolloutId: secondRetry.rolloutId,
        reason: 'retries_exhausted',
        lastRequestId: `R-${secondRetry.rolloutId.slice(0, 8)}`,
      });
      expect(flag.occurrences.map((o) => o.rolloutId).sort()).toEqual(
        [original.rolloutId, firstRetry.rolloutId, secondRetry.rolloutId].sort(),
      );
      expect(flag.events.map((e) => [e.action, (e.detail as { rolloutId: string }).rolloutId])).toEqual([
        ['flagged', original.rolloutId],
        ['reflagged', firstRetry.rolloutId],
        ['reflagged', secondRetry.rolloutId],
      ]);
      expect(flag.events[2]!.detail).toMatchObject({
        source: 'install',
        parentRolloutId: firstRetry.rolloutId,
        attemptCount: 2,
        reason: 'retries_exhausted',
      });
    }
    const ids = flags.map((f) => f.id).sort();
    for (const r of [original, firstRetry, secondRetry]) {
      const listed = await listManualInstallFlags(db, { userIds: [USER], rolloutId: r.rolloutId, limit: 10 });
      expect(listed.flags.map((f) => f.id).sort()).toEqual(ids);
      expect(listed.flags[0]!.rolloutIds).toEqual([original.rolloutId, firstRetry.rolloutId, secondRetry.rolloutId]);
      expect(await countManualInstallFlags(db, r.rolloutId)).toEqual({
        open: 3,
        acknowledged: 0,
        resolved: 0,
        closed: 0,
      });
    }
  });

  it('resolving the flag resolves it for the host in every rollout that raised it', async () => {
    const hosts = ['i-rs1', 'i-rs2'];
    const original = await failedRollout(hosts);
    await raiseMissingManualInstallFlags(db, original.rolloutId);
    const retry = await failedRollout(hosts, { parent: original.rolloutId });
    await raiseMissingManualInstallFlags(db, retry.rolloutId);
    const [first] = await hostFlags(hosts);
    const resolved = await transitionManualInstallFlag(db, {
      flagId: first!.id,
      event: { type: 'resolve' },
      actor: 'ann',
      note: 'installed by hand',
    });
    expect(resolved).toMatchObject({ kind: 'changed', to: 'resolved' });
    // The latest rollout's instance is the one re-verified.
    expect(await db.prisma.rolloutInstance.findUniqueOrThrow({ where: { id: retry.instances[0]!.id } })).toMatchObject({
      verification: 'pending',
      verifyDeadlineAt: null,
    });
    for (const r of [original, retry]) {
      const rows = await reportRows(r.rolloutId);
      expect(rows.map((row) => [row.instanceId, row.flagId, row.flagStatus])).toEqual([
        ['i-rs1', first!.id, 'resolved'],
        ['i-rs2', expect.any(BigInt), 'open'],
      ]);
      expect(await countManualInstallFlags(db, r.rolloutId)).toMatchObject({ open: 1, resolved: 1 });
    }
  });

  it('keeps an acknowledged flag acknowledged, by its owner, when a retry fails on the host again', async () => {
    const original = await failedRollout(['i-ack1']);
    await raiseMissingManualInstallFlags(db, original.rolloutId);
    const [flag] = await hostFlags(['i-ack1']);
    await transitionManualInstallFlag(db, { flagId: flag!.id, event: { type: 'acknowledge' }, actor: 'bob' });
    const retry = await failedRollout(['i-ack1'], { parent: original.rolloutId });
    expect(await raiseMissingManualInstallFlags(db, retry.rolloutId)).toMatchObject({ reflagged: 1 });
    const detail = await findManualInstallFlag(db, flag!.id);
    expect(detail).toMatchObject({ status: 'acknowledged', acknowledgedBy: 'bob', rolloutId: retry.rolloutId });
    expect(detail!.events.map((e) => e.action)).toEqual(['flagged', 'acknowledged', 'reflagged']);
    expect(detail!.instance).toMatchObject({ state: 'failed', attemptCount: 2 });
  });

  it('reopens a resolved flag when a later rollout fails on the host; after a close it raises a new flag', async () => {
    const first = await failedRollout(['i-ro1', 'i-ro2']);
    await raiseMissingManualInstallFlags(db, first.rolloutId);
    const [resolvedFlag, closedFlag] = await hostFlags(['i-ro1', 'i-ro2']);
    await transitionManualInstallFlag(db, {
      flagId: resolvedFlag!.id,
      event: { type: 'resolve' },
      actor: 'ann',
      note: 'done',
    });
    await transitionManualInstallFlag(db, {
      flagId: closedFlag!.id,
      event: { type: 'close' },
      actor: 'ann',
      note: 'decommissioned',
    });

    const later = await failedRollout(['i-ro1', 'i-ro2']);
    expect(await raiseMissingManualInstallFlags(db, later.rolloutId)).toEqual({
      flagged: 1,
      reflagged: 0,
      reopened: 1,
    });
    const reopened = await findManualInstallFlag(db, resolvedFlag!.id);
    expect(reopened).toMatchObject({ status: 'open', rolloutIds: [first.rolloutId, later.rolloutId] });
    expect(reopened!.events.map((e) => e.action)).toEqual(['flagged', 'resolved', 'reopened']);
    expect(reopened!.events[2]!.detail).toMatchObject({ rolloutId: later.rolloutId, source: 'install' });

    const flags = await hostFlags(['i-ro2']);
    expect(flags.map((f) => [f.id === closedFlag!.id, f.status, f.occurrences.map((o) => o.rolloutId)])).toEqual([
      [true, 'closed', [first.rolloutId]],
      [false, 'open', [later.rolloutId]],
    ]);
    // Both rollouts' reports show the host's current flag: the new one.
    for (const r of [first, later])
      expect((await reportRows(r.rolloutId)).find((row) => row.instanceId === 'i-ro2')).toMatchObject({
        flagId: flags[1]!.id,
        flagStatus: 'open',
      });
  });

  it("carries a host's flag onto a failed verification in a later rollout", async () => {
    const original = await failedRollout(['i-cv1']);
    await raiseMissingManualInstallFlags(db, original.rolloutId);
    const { rollout, instances } = await insertRollout(db, {
      userId: USER,
      force: true,
      concurrency: 1,
      maxAttempts: 1,
      policy: {},
      instanceIds: ['i-cv1'],
    });
    await db.prisma.rolloutInstance.updateMany({
      where: { rolloutId: rollout.id },
      data: { state: 'succeeded', finishedAt: new Date(), lastRequestId: 'R-ok' },
    });
    await armInstallVerification(db, rollout.id, 1);
    const [flag] = await hostFlags(['i-cv1']);
    expect(
      await failInstallVerification(db, {
        rolloutInstanceId: instances[0]!.id,
        reason: 'agent_not_running',
        agentStatus: 'stopped',
        detail: 'agent stopped',
      }),
    ).toEqual({ kind: 'reflagged', flagId: flag!.id });
    const [after] = await hostFlags(['i-cv1']);
    expect(after).toMatchObject({
      id: flag!.id,
      status: 'open',
      rolloutId: rollout.id,
      reason: 'agent_not_running',
      detail: 'agent stopped',
      lastRequestId: 'R-ok',
    });
    expect(after!.events.map((e) => [e.action, (e.detail as { source: string }).source])).toEqual([
      ['flagged', 'install'],
      ['reflagged', 'verification'],
    ]);
    expect(await raiseMissingManualInstallFlags(db, rollout.id)).toEqual({ flagged: 0, reflagged: 0, reopened: 0 });
  });

  it('makes one flag per host when two rollouts of the same hosts are raised at the same time', async () => {
    const hosts = Array.from({ length: 20 }, (_, i) => `i-cc${i}`);
    const a = await failedRollout(hosts);
    const b = await failedRollout(hosts);
    const c = await failedRollout(hosts);
    const results = await Promise.all([a, b, c, a, b].map((r) => raiseMissingManualInstallFlags(db, r.rolloutId)));
    const sum = results.reduce((acc, r) => ({
      flagged: acc.flagged + r.flagged,
      reflagged: acc.reflagged + r.reflagged,
      reopened: acc.reopened + r.reopened,
    }));
    expect(sum).toEqual({ flagged: 20, reflagged: 40, reopened: 0 });
    const flags = await hostFlags(hosts);
    expect(flags).toHaveLength(20);
    for (const flag of flags) {
      expect(flag.occurrences.map((o) => o.rolloutId).sort()).toEqual([a, b, c].map((r) => r.rolloutId).sort());
      expect(flag.events.map((e) => e.action)).toEqual(['flagged', 'reflagged', 'reflagged']);
    }
  });

  it('keeps flags of the same instance id in different accounts apart, and refuses a second current flag per host', async () => {
    const mine = await failedRollout(['i-acct1']);
    const theirs = await failedRollout(['i-acct1'], { userId: '4444444444444444' });
    await raiseMissingManualInstallFlags(db, mine.rolloutId);
    expect(await raiseMissingManualInstallFlags(db, theirs.rolloutId)).toMatchObject({ flagged: 1 });
    const [flag] = await hostFlags(['i-acct1']);
    const duplicate = db.prisma.$executeRaw`
      INSERT INTO manual_install_flag (rollout_instance_id, rollout_id, user_id, instance_id, reason, status)
      VALUES (${theirs.instances[0]!.id + 1_000_000n}, ${mine.rolloutId}::uuid, ${USER}, 'i-acct1', 'rejected', 'acknowledged')`;
    await expect(duplicate).rejects.toThrow(/manual_install_flag_open_per_host_key/);
    await transitionManualInstallFlag(db, { flagId: flag!.id, event: { type: 'close' }, actor: 'ann' });
    // Closed flags are not current: a host may have any number of them beside its one current flag.
    await db.prisma.$executeRaw`
      INSERT INTO manual_install_flag (rollout_instance_id, rollout_id, user_id, instance_id, reason, status)
      VALUES (${theirs.instances[0]!.id + 1_000_001n}, ${mine.rolloutId}::uuid, ${USER}, 'i-acct1', 'rejected', 'closed')`;
    expect(await hostFlags(['i-acct1'])).toHaveLength(2);
  });
});
