import { describe, expect, it } from 'vitest';
import { useTestDatabase } from './support.ts';
import {
  countInstances,
  deleteFinishSecondsBefore,
  findRollout,
  insertRollout,
  PROGRESS_WINDOW_SECONDS,
  rolloutProgress,
} from '../src/index.ts';
import type { Database } from '../src/index.ts';
import { instanceIds as ids } from '@fleet/testing';

let db: Database;
useTestDatabase({ poolMax: 5 }, (opened) => (db = opened));

async function rolloutOf(instanceIds: string[]) {
  const { rollout, instances } = await insertRollout(db, {
    userId: '1234567898765432',
    force: false,
    concurrency: 5,
    maxAttempts: 3,
    policy: {},
    instanceIds,
  });
  // Made long before every moment these tests measure at: the window is the whole last minute, never the age.
  await db.prisma.rollout.update({ where: { id: rollout.id }, data: { createdAt: new Date(T0 - 86_400_000) } });
  return { rolloutId: rollout.id, instances };
}

/** The triggers' buckets of these rollouts, zero counts left out, as `rolloutId second-ISO` -> n. */
async function buckets(rolloutIds: string[]): Promise<Record<string, number>> {
  const rows = await db.prisma.rolloutFinishSecond.findMany({
    where: { rolloutId: { in: rolloutIds }, count: { not: 0 } },
  });
  return Object.fromEntries(rows.map((r) => [`${r.rolloutId} ${r.second.toISOString()}`, r.count]));
}

/** What the buckets must equal: the rows themselves grouped by rollout and second. */
async function groupedRows(rolloutIds: string[]): Promise<Record<string, number>> {
  const rows = await db.prisma.$queryRaw<{ rollout_id: string; second: Date; n: bigint }[]>`
    SELECT rollout_id::text AS rollout_id, date_trunc('second', finished_at) AS second, count(*) AS n FROM rollout_instance
    WHERE rollout_id = ANY(${rolloutIds}::uuid[]) AND finished_at IS NOT NULL GROUP BY 1, 2`;
  return Object.fromEntries(rows.map((r) => [`${r.rollout_id} ${r.second.toISOString()}`, Number(r.n)]));
}

async function expectBucketsMatchRows(rolloutIds: string[]): Promise<void> {
  const expected = await groupedRows(rolloutIds);
  expect(Object.keys(expected).length).toBeGreaterThan(0);
  expect(await buckets(rolloutIds)).toEqual(expected);
}

/** One statement finishing many instances, as the worker's batched answers do: (row id, state, finished_at). */
async function finishInOneStatement(
  rows: { id: bigint; state: 'succeeded' | 'failed' | 'cancelled' | 'pending'; at: Date | null }[],
): Promise<number> {
  return db.prisma.$executeRaw`
    UPDATE rollout_instance AS ri SET state = t.state::"InstanceState", finished_at = t.at, updated_at = now()
    FROM unnest(${rows.map((r) => r.id)}::bigint[], ${rows.map((r) => r.state)}::text[], ${rows.map((r) => r.at)}::timestamptz[]) AS t(id, state, at)
    WHERE ri.id = t.id`;
}

/** The count rolloutProgress made before the buckets: exact, over the finished rows. */
async function countFinishedExactly(rolloutId: string, now: Date): Promise<number> {
  const since = new Date(now.getTime() - PROGRESS_WINDOW_SECONDS * 1000);
  const rows = await db.prisma.$queryRaw<{ n: bigint }[]>`
    SELECT count(*) AS n FROM rollout_instance WHERE rollout_id = ${rolloutId}::uuid AND finished_at > ${since} AND finished_at <= ${now}`;
  return Number(rows[0]!.n);
}

/** finishedInWindow as rolloutProgress saw it (ratePerSecond is it / 60 rounded to 0.01, so this recovers it exactly). */
async function finishedInWindow(rolloutId: string, now: Date): Promise<number> {
  const rollout = (await findRollout(db, rolloutId))!;
  const progress = await rolloutProgress(db, rollout, await countInstances(db, rolloutId), now);
  expect(progress.windowSeconds).toBe(PROGRESS_WINDOW_SECONDS);
  return Math.round(progress.ratePerSecond! * progress.windowSeconds);
}

const T0 = Date.parse('2026-11-28T12:00:00.000Z');
const at = (ms: number) => new Date(T0 + ms);

describe('rollout_finish_second, kept by the triggers on rollout_instance', () => {
  it('has no buckets for a new rollout, whose instances are all pending', async () => {
    const { rolloutId } = await rolloutOf(ids(50, 'i-new'));
    expect(await db.prisma.rolloutFinishSecond.count({ where: { rolloutId } })).toBe(0);
  });

  it('counts instances inserted already finished, per rollout and second, whatever the milliseconds', async () => {
    const a = await rolloutOf(['i-ins-seed-a']);
    const b = await rolloutOf(['i-ins-seed-b']);
    // One statement, two rollouts, the edges of seconds (.000 and .999) and one instance still pending.
    const rows = [
      [a.rolloutId, 'i-ins1', at(0)],
      [a.rolloutId, 'i-ins2', at(999)],
      [a.rolloutId, 'i-ins3', at(1000)],
      [a.rolloutId, 'i-ins4', at(1500)],
      [b.rolloutId, 'i-ins5', at(999)],
      [b.rolloutId, 'i-ins6', at(-1)],
      [b.rolloutId, 'i-ins7', null],
    ] as const;
    await db.prisma.$executeRaw`
      INSERT INTO rollout_instance (rollout_id, instance_id, state, finished_at)
      SELECT r, i, CASE WHEN f IS NULL THEN 'pending' ELSE 'succeeded' END::"InstanceState", f
      FROM unnest(${rows.map((r) => r[0])}::uuid[], ${rows.map((r) => r[1])}::text[], ${rows.map((r) => r[2])}::timestamptz[]) AS t(r, i, f)`;
    expect(await buckets([a.rolloutId, b.rolloutId])).toEqual({
      [`${a.rolloutId} ${at(0).toISOString()}`]: 2,
      [`${a.rolloutId} ${at(1000).toISOString()}`]: 2,
      [`${b.rolloutId} ${at(0).toISOString()}`]: 1,
      [`${b.rolloutId} ${at(-1000).toISOString()}`]: 1,
    });
    await expectBucketsMatchRows([a.rolloutId, b.rolloutId]);
  });

  it('moves with batch updates to final states, ignores updates that leave finished_at alone, and follows a changed finished_at', async () => {
    const a = await rolloutOf(ids(120, 'i-upa'));
    const b = await rolloutOf(ids(80, 'i-upb'));
    // Claims: pending -> in_progress, finished_at stays null: no bucket.
    await db.prisma.rolloutInstance.updateMany({
      where: { rolloutId: { in: [a.rolloutId, b.rolloutId] } },
      data: { state: 'in_progress' },
    });
    expect(
      await db.prisma.rolloutFinishSecond.count({ where: { rolloutId: { in: [a.rolloutId, b.rolloutId] } } }),
    ).toBe(0);
    // Answers in batches that span both rollouts and several seconds, like the worker's group commits.
    const all = [...a.instances, ...b.instances];
    const states = ['succeeded', 'failed', 'cancelled'] as const;
    for (let start = 0; start < all.length; start += 50) {
      const batch = all
        .slice(start, start + 50)
        .map((inst, k) => ({ id: inst.id, state: states[(start + k) % 3]!, at: at(start * 37 + k * 113) }));
      expect(await finishInOneStatement(batch)).toBe(batch.length);
      await expectBucketsMatchRows([a.rolloutId, b.rolloutId]);
    }
    const before = await buckets([a.rolloutId, b.rolloutId]);
    // Verification bookkeeping touches finished rows without moving finished_at: buckets unchanged.
    await db.prisma.rolloutInstance.updateMany({
      where: { rolloutId: a.rolloutId, state: 'succeeded' },
      data: { verification: 'pending' },
    });
    expect(await buckets([a.rolloutId, b.rolloutId])).toEqual(before);
    // A finished_at moved to another second leaves one bucket for the other.
    await db.prisma.rolloutInstance.update({ where: { id: a.instances[0]!.id }, data: { finishedAt: at(90_000) } });
    await expectBucketsMatchRows([a.rolloutId, b.rolloutId]);
    expect((await buckets([a.rolloutId]))[`${a.rolloutId} ${at(90_000).toISOString()}`]).toBe(1);
  });

  it('takes an instance back out when a retry moves it to pending (finished_at null)', async () => {
    const { rolloutId, instances } = await rolloutOf(ids(6, 'i-rt'));
    await finishInOneStatement(
      instances.map((inst, k) => ({ id: inst.id, state: 'failed', at: at(200_000 + (k % 2) * 1000) })),
    );
    expect(await buckets([rolloutId])).toEqual({
      [`${rolloutId} ${at(200_000).toISOString()}`]: 3,
      [`${rolloutId} ${at(201_000).toISOString()}`]: 3,
    });
    // Three retried in one statement, one of them from the second second; a retried one finishing again later.
    await finishInOneStatement([0, 2, 1].map((k) => ({ id: instances[k]!.id, state: 'pending', at: null })));
    expect(await buckets([rolloutId])).toEqual({
      [`${rolloutId} ${at(200_000).toISOString()}`]: 1,
      [`${rolloutId} ${at(201_000).toISOString()}`]: 2,
    });
    await finishInOneStatement([{ id: instances[0]!.id, state: 'succeeded', at: at(230_500) }]);
    await expectBucketsMatchRows([rolloutId]);
    // Every instance of a second retried: its bucket reads 0 (kept until pruned), never negative.
    await finishInOneStatement([4].map((k) => ({ id: instances[k]!.id, state: 'pending', at: null })));
    expect(
      await db.prisma.rolloutFinishSecond.findUniqueOrThrow({
        where: { rolloutId_second: { rolloutId, second: at(200_000) } },
      }),
    ).toMatchObject({ count: 0 });
    await expectBucketsMatchRows([rolloutId]);
  });

  it('takes deleted instances out, and goes with its rollout when the rollout is deleted', async () => {
    const { rolloutId, instances } = await rolloutOf(ids(10, 'i-del'));
    const other = await rolloutOf(ids(4, 'i-keep'));
    await finishInOneStatement(
      [...instances, ...other.instances].map((inst, k) => ({
        id: inst.id,
        state: 'succeeded',
        at: at(300_000 + (k % 3) * 1000),
      })),
    );
    await db.prisma.rolloutInstance.deleteMany({ where: { id: { in: instances.slice(0, 4).map((i) => i.id) } } });
    await expectBucketsMatchRows([rolloutId, other.rolloutId]);
    await db.prisma.rollout.delete({ where: { id: rolloutId } });
    expect(await db.prisma.rolloutFinishSecond.count({ where: { rolloutId } })).toBe(0);
    await expectBucketsMatchRows([other.rolloutId]);
  });
});

describe('rolloutProgress from the buckets', () => {
  it('gives the same finishedInWindow as counting the rows, for finishes spread over two and a half minutes', async () => {
    const { rolloutId, instances } = await rolloutOf(ids(400, 'i-win'));
    // now is 0.1 s into its second, so `since` (now - 60 s) is too. Every finish lies between .25 and .75 of its
    // second and none after now: no finish falls between `since` and the second boundary it rounds to.
    const now = at(600_100);
    let seed = 7;
    const random = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
    const finishes = instances.map((inst) => {
      const second = 600 - Math.floor(random() * 150);
      return {
        id: inst.id,
        state: 'succeeded' as const,
        at: at((second - 1) * 1000 + 250 + Math.floor(random() * 501)),
      };
    });
    for (let start = 0; start < finishes.length; start += 100)
      await finishInOneStatement(finishes.slice(start, start + 100));
    // Also earlier moments, 0.9 s into their seconds (`since` at .9 rounds up past finishes at .25-.75).
    for (const moment of [now, at(579_900), at(554_900), at(530_900)]) {
      const exact = await countFinishedExactly(rolloutId, moment);
      expect(exact).toBeGreaterThan(50);
      expect(await finishedInWindow(rolloutId, moment)).toBe(exact);
    }
  });

  it('rounds the start of the window to the nearest second, as documented', async () => {
    const { rolloutId, instances } = await rolloutOf(ids(2, 'i-rnd'));
    // Both finish in the second [T0 + 940 s, T0 + 941 s).
    await finishInOneStatement([
      { id: instances[0]!.id, state: 'succeeded', at: at(940_200) },
      { id: instances[1]!.id, state: 'failed', at: at(940_800) },
    ]);
    // since = 940.3 s: 0.7 of that second lies in the window, so both count (exactly, only the one at .8 would).
    expect(await countFinishedExactly(rolloutId, at(1_000_300))).toBe(1);
    expect(await finishedInWindow(rolloutId, at(1_000_300))).toBe(2);
    // since = 940.7 s: 0.3 of it lies in the window, so neither counts (exactly, the one at .8 would).
    expect(await countFinishedExactly(rolloutId, at(1_000_700))).toBe(1);
    expect(await finishedInWindow(rolloutId, at(1_000_700))).toBe(0);
  });
});

describe('deleteFinishSecondsBefore', () => {
  it('deletes the buckets of seconds before the cut-off, of every rollout, and keeps the rest', async () => {
    const a = await rolloutOf(ids(3, 'i-pra'));
    const b = await rolloutOf(ids(3, 'i-prb'));
    const old = new Date(Date.now() - 20 * 60_000);
    const recent = new Date(Date.now() - 5_000);
    await finishInOneStatement([
      { id: a.instances[0]!.id, state: 'succeeded', at: old },
      { id: a.instances[1]!.id, state: 'succeeded', at: recent },
      { id: b.instances[0]!.id, state: 'failed', at: old },
    ]);
    const cutOff = new Date(Date.now() - 10 * 60_000);
    const before = await db.prisma.rolloutFinishSecond.count({ where: { second: { lt: cutOff } } });
    expect(before).toBeGreaterThanOrEqual(2);
    expect(await deleteFinishSecondsBefore(db, cutOff)).toBe(before);
    expect(await db.prisma.rolloutFinishSecond.count({ where: { second: { lt: cutOff } } })).toBe(0);
    expect(await buckets([a.rolloutId, b.rolloutId])).toEqual({
      [`${a.rolloutId} ${new Date(Math.floor(recent.getTime() / 1000) * 1000).toISOString()}`]: 1,
    });
    // Progress over the last minute is unaffected.
    expect(await finishedInWindow(a.rolloutId, new Date())).toBe(1);
  });
});
