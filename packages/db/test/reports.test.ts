import { describe, expect, it } from 'vitest';
import {
  countInstances,
  countVerifications,
  findInstanceStates,
  findRollout,
  insertRollout,
  iterateReportInstances,
  listOpenInstancesForRepair,
  listFailureCauseCounts,
  listRetryRollouts,
  PROGRESS_MIN_WINDOW_SECONDS,
  PROGRESS_WINDOW_SECONDS,
  readReportFigures,
  readRolloutStatusFigures,
  rolloutProgress,
  setParentRollout,
} from '../src/index.ts';
import type { Database, RolloutRecord } from '../src/index.ts';
import { useTestDatabase } from './support.ts';
import { instanceIds as ids } from '@fleet/testing';

let db: Database;
useTestDatabase({ poolMax: 5 }, (opened) => (db = opened));

async function rolloutOf(instanceIds: string[], waveSizes?: number[]) {
  const { rollout, instances } = await insertRollout(db, {
    userId: '1234567898765432',
    force: false,
    concurrency: 5,
    maxAttempts: 3,
    policy: {},
    instanceIds,
    ...(waveSizes ? { waveSizes } : {}),
  });
  return { rolloutId: rollout.id, instances };
}

describe('iterateReportInstances', () => {
  it('pages failed installs, then failed verifications, in id order, whatever the page size', async () => {
    const { rolloutId, instances } = await rolloutOf(ids(25, 'i-pg'));
    await db.prisma.rolloutInstance.updateMany({
      where: { id: { in: instances.slice(0, 11).map((i) => i.id) } },
      data: { state: 'failed' },
    });
    await db.prisma.rolloutInstance.updateMany({
      where: { id: { in: instances.slice(11, 25).map((i) => i.id) } },
      data: { state: 'succeeded', verification: 'verified' },
    });
    await db.prisma.rolloutInstance.updateMany({
      where: { id: { in: instances.slice(20, 24).map((i) => i.id) } },
      data: { verification: 'failed', agentStatus: 'install_faild' },
    });
    const pages: string[][] = [];
    for await (const page of iterateReportInstances(db, rolloutId, { scope: 'failures', pageSize: 4 }))
      pages.push(page.map((r) => r.instanceId));
    expect(pages.map((p) => p.length)).toEqual([4, 4, 3, 4]);
    expect(pages.flat()).toEqual([...instances.slice(0, 11), ...instances.slice(20, 24)].map((i) => i.instanceId));
    let all = 0;
    for await (const page of iterateReportInstances(db, rolloutId, { scope: 'all', pageSize: 7 })) all += page.length;
    expect(all).toBe(25);
  });
});

describe('rolloutProgress and counts', () => {
  /** A rollout of `n` instances made `ageMs` before `now`, with `finished` of them finished at the given times. */
  async function rolloutAged(prefix: string, n: number, createdAt: Date, finishes: Date[]) {
    const { rolloutId, instances } = await rolloutOf(ids(n, prefix));
    await db.prisma.rollout.update({ where: { id: rolloutId }, data: { createdAt } });
    for (const [k, at] of finishes.entries())
      await db.prisma.rolloutInstance.update({
        where: { id: instances[k]!.id },
        data: { state: 'succeeded', finishedAt: at },
      });
    return (await findRollout(db, rolloutId))!;
  }
  const progressOf = async (rollout: RolloutRecord, now: Date) =>
    rolloutProgress(db, rollout, await countInstances(db, rollout.id), now);

  it('measures instances finished in the last minute and the ETA of the rest', async () => {
    const now = new Date();
    const rollout = await rolloutAged('i-pr', 10, new Date(now.getTime() - 600_000), [
      ...Array.from({ length: 6 }, () => new Date(now.getTime() - 5_000)),
    ]);
    const instances = await db.prisma.rolloutInstance.findMany({
      where: { rolloutId: rollout.id, state: 'pending' },
      orderBy: { id: 'asc' },
    });
    await db.prisma.rolloutInstance.update({
      where: { id: instances[0]!.id },
      data: { state: 'failed', finishedAt: new Date(now.getTime() - 120_000) },
    });
    const progress = await progressOf(rollout, now);
    expect(progress).toMatchObject({ done: 7, total: 10, ratePerSecond: 0.1, windowSeconds: 60, etaSeconds: 30 });
    expect(await countVerifications(db, rollout.id)).toEqual({ pending: 0, verified: 0, failed: 0, notChecked: 6 });
  });

  it('measures a rollout younger than a minute over its age, not over 60 s (5 s in: 20 a second, not 1.67)', async () => {
    const createdAt = new Date('2026-11-30T10:00:00.700Z');
    const now = new Date(createdAt.getTime() + 5_000);
    // 100 finished in its 5 seconds, the first 50 ms after it was made (within the second it was made in).
    const finishes = Array.from({ length: 100 }, (_, k) => new Date(createdAt.getTime() + 50 + k * 49));
    const rollout = await rolloutAged('i-young', 2000, createdAt, finishes);
    expect(await progressOf(rollout, now)).toMatchObject({
      done: 100,
      total: 2000,
      ratePerSecond: 20,
      windowSeconds: 5,
      etaSeconds: 95,
      etaAt: new Date(now.getTime() + 95_000).toISOString(),
    });
    // 59.9 s in: still its age; 60 s and later: the last minute.
    expect(await progressOf(rollout, new Date(createdAt.getTime() + 59_900))).toMatchObject({ windowSeconds: 59.9 });
    expect(await progressOf(rollout, new Date(createdAt.getTime() + 61_000))).toMatchObject({
      windowSeconds: PROGRESS_WINDOW_SECONDS,
    });
  });

  it('measures a rollout younger than a second as a second old (PROGRESS_MIN_WINDOW_SECONDS)', async () => {
    expect(PROGRESS_MIN_WINDOW_SECONDS).toBe(1);
    const createdAt = new Date('2026-11-30T11:00:00.000Z');
    const rollout = await rolloutAged('i-baby', 100, createdAt, [
      new Date(createdAt.getTime() + 40),
      new Date(createdAt.getTime() + 45),
    ]);
    // 2 finishes 50 ms in: 2 a second, not 40.
    expect(await progressOf(rollout, new Date(createdAt.getTime() + 50))).toMatchObject({
      ratePerSecond: 2,
      windowSeconds: 1,
      etaSeconds: 49,
    });
  });

  it.each(['completed', 'cancelled'] as const)(
    'shows a %s rollout with no rate, no ETA and no etaAt: it is over',
    async (status) => {
      const now = new Date();
      const rollout = await rolloutAged(`i-over-${status}`, 4, new Date(now.getTime() - 30_000), [
        ...Array.from({ length: 4 }, () => new Date(now.getTime() - 2_000)),
      ]);
      await db.prisma.rollout.update({ where: { id: rollout.id }, data: { status, finishedAt: now } });
      const over = (await findRollout(db, rollout.id))!;
      expect(await progressOf(over, now)).toMatchObject({
        done: 4,
        total: 4,
        fraction: 1,
        ratePerSecond: null,
        windowSeconds: 30,
        etaSeconds: null,
        etaAt: null,
      });
      // Over, it stays as it was at its finish: younger than a minute, its window no longer grows with the request's
      // time (and so neither does its status body and its ETag).
      expect(await progressOf(over, new Date(now.getTime() + 5_000))).toEqual(await progressOf(over, now));
      // Also as of a moment before the finish (the API's `now` is the request's whole second, often before a finish
      // within that second): the first polls after the finish get what the later ones get.
      expect(await progressOf(over, new Date(now.getTime() - 500))).toEqual(await progressOf(over, now));
    },
  );

  it('shows a paused rollout with its rate but no ETA', async () => {
    const now = new Date();
    const rollout = await rolloutAged('i-paused', 10, new Date(now.getTime() - 600_000), [
      ...Array.from({ length: 6 }, () => new Date(now.getTime() - 5_000)),
    ]);
    await db.prisma.rollout.update({ where: { id: rollout.id }, data: { status: 'paused' } });
    expect(await progressOf((await findRollout(db, rollout.id))!, now)).toMatchObject({
      done: 6,
      ratePerSecond: 0.1,
      etaSeconds: null,
      etaAt: null,
    });
  });
});

describe('readRolloutStatusFigures and readReportFigures', () => {
  it('read in one statement what the single reads read: counts, causes, verification, retries, progress', async () => {
    const { rolloutId, instances } = await rolloutOf(ids(12, 'i-fig'));
    const now = new Date();
    await db.prisma.rollout.update({
      where: { id: rolloutId },
      data: { createdAt: new Date(now.getTime() - 600_000) },
    });
    for (const [k, instance] of instances.slice(0, 7).entries())
      await db.prisma.rolloutInstance.update({
        where: { id: instance.id },
        data:
          k < 3
            ? {
                state: 'failed',
                lastErrorCode: k < 2 ? 'Boom' : 'Bang',
                lastErrorMessage: `failed ${k}`,
                finishedAt: now,
              }
            : { state: 'succeeded', verification: k < 5 ? 'verified' : 'pending', finishedAt: now },
      });
    const retry = await rolloutOf(ids(2, 'i-figr'));
    await setParentRollout(db, retry.rolloutId, rolloutId);
    const rollout = (await findRollout(db, rolloutId))!;
    const counts = await countInstances(db, rolloutId);
    const progress = await rolloutProgress(db, rollout, counts, now);
    expect(progress).toMatchObject({ done: 7, ratePerSecond: 0.12 });

    expect(await readRolloutStatusFigures(db, rollout, now)).toEqual({ counts, accountRateLimitRps: null, progress });
    const report = await readReportFigures(db, rollout, now);
    expect(report).toEqual({
      counts,
      verification: await countVerifications(db, rolloutId),
      manualInstallFlags: { open: 0, acknowledged: 0, resolved: 0, closed: 0 },
      retries: await listRetryRollouts(db, rolloutId),
      causeCounts: await listFailureCauseCounts(db, rolloutId),
      progress,
    });
    expect(report.causeCounts.map((c) => [c.cause, c.count])).toEqual([
      ['Bang: failed <n>', 1],
      ['Boom: failed <n>', 2],
    ]);
    expect(report.verification).toMatchObject({ verified: 2, pending: 2 });
    expect(report.retries.map((r) => r.id)).toEqual([retry.rolloutId]);
  });
});

describe('reconciler reads', () => {
  it('lists the open instances of waves allowed to run, with their latest attempt', async () => {
    const { rolloutId, instances } = await rolloutOf(ids(5, 'i-op'), [2, 3]);
    await db.prisma.rolloutInstance.update({ where: { id: instances[0]!.id }, data: { state: 'succeeded' } });
    expect(
      (await listOpenInstancesForRepair(db, rolloutId, { state: 'pending', limit: 100 })).map((i) => i.instanceId),
    ).toEqual([instances[1]!.instanceId]);
    await db.prisma.rollout.update({ where: { id: rolloutId }, data: { currentWave: 2 } });
    const open = await listOpenInstancesForRepair(db, rolloutId, { state: 'pending', limit: 2 });
    expect(open.map((i) => i.instanceId)).toEqual(instances.slice(1, 3).map((i) => i.instanceId));
    expect(open[0]).toMatchObject({ state: 'pending', attemptCount: 0, attemptStartedAt: null });
    const states = await findInstanceStates(db, rolloutId, [instances[0]!.instanceId, 'i-nothere']);
    expect([...states.entries()]).toEqual([[instances[0]!.instanceId, { id: instances[0]!.id, state: 'succeeded' }]]);
  });

  it('links retry rollouts to their parent', async () => {
    const parent = await rolloutOf(['i-parent']);
    const child = await rolloutOf(['i-parent']);
    await setParentRollout(db, child.rolloutId, parent.rolloutId);
    expect((await listRetryRollouts(db, parent.rolloutId)).map((r) => r.id)).toEqual([child.rolloutId]);
  });
});
