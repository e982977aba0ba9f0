import { describe, expect, it } from 'vitest';
import { useTestDatabase } from './support.ts';
import { INSERT_CHUNK, countInstances, insertRollout, iterateRolloutInstances, recordRollout } from '../src/index.ts';
import type { Database, NewRollout } from '../src/index.ts';
import { instanceIds as ids } from '@fleet/testing';

let db: Database;
useTestDatabase({ poolMax: 5 }, (opened) => (db = opened));

const newRollout = (instanceIds: string[], waveSizes?: number[]): NewRollout => ({
  userId: '1234567898765432',
  force: false,
  concurrency: 5,
  maxAttempts: 3,
  policy: {},
  instanceIds,
  ...(waveSizes ? { waveSizes } : {}),
});

/** Every row of the rollout in id order, as [instance id, wave]. */
async function storedRows(rolloutId: string): Promise<[string, number][]> {
  const rows = await db.prisma.rolloutInstance.findMany({
    where: { rolloutId },
    orderBy: { id: 'asc' },
    select: { instanceId: true, waveNo: true },
  });
  return rows.map((r) => [r.instanceId, r.waveNo]);
}

async function collect(pages: AsyncIterable<{ id: bigint; instanceId: string; waveNo: number }[]>) {
  const sizes: number[] = [];
  const rows: { id: bigint; instanceId: string; waveNo: number }[] = [];
  for await (const page of pages) {
    sizes.push(page.length);
    rows.push(...page);
  }
  return { sizes, rows };
}

describe('recordRollout: instances inserted INSERT_CHUNK at a time', () => {
  it('a size that is not a multiple of the chunk: every instance stored once, in the order given, with its wave across chunk boundaries', async () => {
    // Wave 1 ends one short of the first chunk boundary, wave 2 straddles it, the last wave is the short tail chunk.
    const instanceIds = ids(2 * INSERT_CHUNK + 7, 'i-ck');
    const waveSizes = [INSERT_CHUNK - 1, 3, INSERT_CHUNK - 2, 7];
    const rollout = await recordRollout(db, newRollout(instanceIds, waveSizes));
    expect(rollout).toMatchObject({
      totalInstances: instanceIds.length,
      waveCount: 4,
      currentWave: 1,
      enqueuedAt: null,
    });
    const expectedWave = (position: number) =>
      position < INSERT_CHUNK - 1 ? 1 : position < INSERT_CHUNK + 2 ? 2 : position < 2 * INSERT_CHUNK ? 3 : 4;
    expect(await storedRows(rollout.id)).toEqual(instanceIds.map((id, position) => [id, expectedWave(position)]));
    expect((await countInstances(db, rollout.id)).pending).toBe(instanceIds.length);
  });

  it('a failure in a later chunk leaves nothing: no rollout row, no instance of an earlier chunk', async () => {
    const instanceIds = ids(INSERT_CHUNK + 10, 'i-rb');
    // A repeat inside the second chunk breaks (rollout_id, instance_id) after the first chunk went in.
    instanceIds[INSERT_CHUNK + 5] = instanceIds[INSERT_CHUNK + 4]!;
    const before = { rollouts: await db.prisma.rollout.count(), instances: await db.prisma.rolloutInstance.count() };
    await expect(recordRollout(db, newRollout(instanceIds))).rejects.toThrow();
    expect({ rollouts: await db.prisma.rollout.count(), instances: await db.prisma.rolloutInstance.count() }).toEqual(
      before,
    );
  });

  it('refuses wave sizes that do not add up to the instance count, before writing anything', async () => {
    const before = await db.prisma.rollout.count();
    await expect(recordRollout(db, newRollout(ids(10, 'i-ws'), [4, 5]))).rejects.toThrow('wave sizes do not add up');
    await expect(recordRollout(db, newRollout(ids(10, 'i-ws'), [4, 5]))).rejects.toMatchObject({
      name: 'WaveSizesMismatchError',
      code: 'wave_sizes_mismatch',
      instanceCount: 10,
      waveSizesTotal: 9,
    });
    expect(await db.prisma.rollout.count()).toBe(before);
  });

  it('insertRollout returns every row in the order given, with row ids and waves', async () => {
    const instanceIds = ids(INSERT_CHUNK + 3, 'i-ir');
    const { rollout, instances } = await insertRollout(db, newRollout(instanceIds, [2, INSERT_CHUNK + 1]));
    expect(instances.map((i) => i.instanceId)).toEqual(instanceIds);
    expect(instances.map((i) => i.waveNo)).toEqual(instanceIds.map((_, p) => (p < 2 ? 1 : 2)));
    const stored = await db.prisma.rolloutInstance.findMany({
      where: { rolloutId: rollout.id },
      orderBy: { id: 'asc' },
      select: { id: true },
    });
    expect(instances.map((i) => i.id)).toEqual(stored.map((s) => s.id));
  });
});

describe('iterateRolloutInstances', () => {
  it('pages through every row in id order, or one wave only, whatever the page size (row ids crossing 99,999 to 100,000)', async () => {
    // Row ids that gain a digit inside the rollout: the keyset must follow the bigint, not its text ("100000" < "99999").
    await db.prisma.$queryRaw`SELECT setval(pg_get_serial_sequence('rollout_instance', 'id'), 99500)::text`;
    const instanceIds = ids(INSERT_CHUNK + 1234, 'i-it');
    const rollout = await recordRollout(db, newRollout(instanceIds, [1001, instanceIds.length - 1001]));
    const stored = await db.prisma.rolloutInstance.findMany({
      where: { rolloutId: rollout.id },
      orderBy: { id: 'asc' },
      select: { id: true, instanceId: true, waveNo: true },
    });
    expect(stored[0]!.id).toBeLessThan(100_000n);
    expect(stored.at(-1)!.id).toBeGreaterThanOrEqual(100_000n);

    const all = await collect(iterateRolloutInstances(db, rollout.id, { pageSize: 1000 }));
    expect(all.rows).toEqual(stored);
    expect(all.sizes).toEqual([
      ...Array.from({ length: Math.floor(stored.length / 1000) }, () => 1000),
      stored.length % 1000,
    ]);

    const firstWave = await collect(iterateRolloutInstances(db, rollout.id, { pageSize: 1000, waveNo: 1 }));
    expect(firstWave.rows).toEqual(stored.slice(0, 1001));
    expect(firstWave.sizes).toEqual([1000, 1]);
    const secondWave = await collect(iterateRolloutInstances(db, rollout.id, { pageSize: 4096, waveNo: 2 }));
    expect(secondWave.rows).toEqual(stored.slice(1001));

    // A small first page, then full ones: the same rows.
    const smallFirst = await collect(iterateRolloutInstances(db, rollout.id, { pageSize: 2000, firstPageSize: 250 }));
    expect(smallFirst.rows).toEqual(stored);
    expect(smallFirst.sizes).toEqual([
      250,
      ...Array.from({ length: Math.floor((stored.length - 250) / 2000) }, () => 2000),
      (stored.length - 250) % 2000,
    ]);
    // A first page that is all there is ends there.
    expect(
      (await collect(iterateRolloutInstances(db, rollout.id, { pageSize: 2000, firstPageSize: 5000, waveNo: 1 })))
        .sizes,
    ).toEqual([1001]);

    // A page size that divides the count exactly ends with one empty read, not an empty page.
    const exact = await collect(iterateRolloutInstances(db, rollout.id, { pageSize: 1001, waveNo: 1 }));
    expect(exact.sizes).toEqual([1001]);
    expect((await collect(iterateRolloutInstances(db, rollout.id, { pageSize: 10, waveNo: 3 }))).sizes).toEqual([]);
  });

  it('pendingOnly leaves out the instances of a wave that are no longer pending (what a wave start enqueues)', async () => {
    const instanceIds = ids(30, 'i-pend');
    const rollout = await recordRollout(db, newRollout(instanceIds, [10, 20]));
    const wave2 = await db.prisma.rolloutInstance.findMany({
      where: { rolloutId: rollout.id, waveNo: 2 },
      orderBy: { id: 'asc' },
      select: { id: true, instanceId: true, waveNo: true },
    });
    const ended = wave2.filter((_, i) => i % 3 === 0);
    await db.prisma.rolloutInstance.updateMany({
      where: { id: { in: ended.map((r) => r.id) } },
      data: { state: 'cancelled', finishedAt: new Date() },
    });
    const pending = await collect(
      iterateRolloutInstances(db, rollout.id, { pageSize: 4, waveNo: 2, pendingOnly: true }),
    );
    expect(pending.rows).toEqual(wave2.filter((_, i) => i % 3 !== 0));
    expect((await collect(iterateRolloutInstances(db, rollout.id, { pageSize: 4, waveNo: 2 }))).rows).toEqual(wave2);
  });
});
