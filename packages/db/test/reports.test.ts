import { describe, expect, it } from 'vitest';
import {
  countInstances,
  countVerifications,
  findInstanceStates,
  insertRollout,
  iterateReportInstances,
  listOpenInstancesForRepair,
  listRetryRollouts,
  rolloutProgress,
  setParentRollout,
} from '../src/index.ts';
import type { Database } from '../src/index.ts';
import { useTestDatabase } from './support.ts';

let db: Database;
useTestDatabase({ poolMax: 5 }, (opened) => (db = opened));

const ids = (n: number, p: string) => Array.from({ length: n }, (_, i) => `${p}${i.toString(36).padStart(4, '0')}`);
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
  it('measures instances finished in the last minute and the ETA of the rest', async () => {
    const { rolloutId, instances } = await rolloutOf(ids(10, 'i-pr'));
    const now = new Date();
    await db.prisma.rolloutInstance.updateMany({
      where: { id: { in: instances.slice(0, 6).map((i) => i.id) } },
      data: { state: 'succeeded', finishedAt: new Date(now.getTime() - 5_000) },
    });
    await db.prisma.rolloutInstance.updateMany({
      where: { id: { in: instances.slice(6, 7).map((i) => i.id) } },
      data: { state: 'failed', finishedAt: new Date(now.getTime() - 120_000) },
    });
    const progress = await rolloutProgress(db, rolloutId, await countInstances(db, rolloutId), now);
    expect(progress).toMatchObject({ done: 7, total: 10, ratePerSecond: 0.1, etaSeconds: 30 });
    expect(await countVerifications(db, rolloutId)).toEqual({ pending: 0, verified: 0, failed: 0, notChecked: 6 });
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
