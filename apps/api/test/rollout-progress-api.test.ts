/** Progress on GET /v1/rollouts/:id (done / total, rate, ETA) over real HTTP with real Postgres and Redis. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { instanceIds } from '@fleet/testing';
import { rolloutSchema } from '../src/response-schemas.ts';
import { newRollout } from './rollout-fixtures.ts';
import type { ApiHarness } from './support.ts';
import { startApi } from './support.ts';

let api: ApiHarness;
beforeAll(async () => {
  api = await startApi();
});
afterAll(async () => {
  await api.close();
});

describe('progress on GET /v1/rollouts/:id', () => {
  it('shows done / total, the rate over the last minute and an ETA for a running rollout', async () => {
    const ids = instanceIds(100, 'i-prog');
    const rolloutId = await newRollout(api, ids, 'running');
    // Ten minutes old: the rate is over the whole last minute.
    await api.db.prisma.rollout.update({
      where: { id: rolloutId },
      data: { createdAt: new Date(Date.now() - 600_000) },
    });
    // 40 done: 30 within the last minute (0.5 per second), 10 long ago; 60 to go.
    await api.db.prisma.rolloutInstance.updateMany({
      where: { rolloutId },
      data: { state: 'pending', finishedAt: null },
    });
    const rows = await api.db.prisma.rolloutInstance.findMany({
      where: { rolloutId },
      orderBy: { id: 'asc' },
      select: { id: true },
    });
    await api.db.prisma.rolloutInstance.updateMany({
      where: { id: { in: rows.slice(0, 30).map((r) => r.id) } },
      data: { state: 'succeeded', finishedAt: new Date(Date.now() - 10_000) },
    });
    await api.db.prisma.rolloutInstance.updateMany({
      where: { id: { in: rows.slice(30, 40).map((r) => r.id) } },
      data: { state: 'failed', finishedAt: new Date(Date.now() - 600_000) },
    });
    const res = await api.request('GET', `/v1/rollouts/${rolloutId}`);
    expect(res.status).toBe(200);
    expect(res.body.progress).toMatchObject({
      done: 40,
      total: 100,
      fraction: 0.4,
      ratePerSecond: 0.5,
      windowSeconds: 60,
      etaSeconds: 120,
    });
    expect(Date.parse(res.body.progress.etaAt) - Date.now()).toBeGreaterThan(100_000);
    rolloutSchema.parse(res.body);
  });

  it('measures a rollout 5 s old over those 5 s: about 20 a second and an ETA of about 95 s, not 1.73 and 1094 s', async () => {
    const rolloutId = await newRollout(api, instanceIds(2000, 'i-young'), 'running');
    const createdAt = Date.now() - 5_000;
    await api.db.prisma.rollout.update({ where: { id: rolloutId }, data: { createdAt: new Date(createdAt) } });
    await api.db.prisma.rolloutInstance.updateMany({
      where: { rolloutId },
      data: { state: 'pending', finishedAt: null },
    });
    // 104 finished in its first 5 seconds (what the operator saw: 1.73 a second over 60 s is 104).
    const rows = await api.db.prisma.rolloutInstance.findMany({
      where: { rolloutId },
      orderBy: { id: 'asc' },
      select: { id: true },
      take: 104,
    });
    await api.db.prisma.$executeRaw`
      UPDATE rollout_instance AS ri SET state = 'succeeded', finished_at = t.at
      FROM unnest(${rows.map((r) => r.id)}::bigint[], ${rows.map((_, k) => new Date(createdAt + 100 + k * 45))}::timestamptz[]) AS t(id, at)
      WHERE ri.id = t.id`;
    const res = await api.request('GET', `/v1/rollouts/${rolloutId}`);
    expect(res.status).toBe(200);
    const { progress } = res.body;
    expect(progress).toMatchObject({ done: 104, total: 2000 });
    // The window is the rollout's age at the request's whole second (progress is computed as of it, so that the body
    // and its ETag hold for that second): 5 s plus however long this test took since, less up to a second.
    expect(progress.windowSeconds).toBeGreaterThanOrEqual(4);
    expect(progress.windowSeconds).toBeLessThan(10);
    // The rate is of the finishes before that whole second over the exact age (windowSeconds shows it in 0.1 s
    // steps): finishes within the request's own second count from the next second on, as the window does.
    const asOf = createdAt + progress.windowSeconds * 1000;
    const finishedBefore = rows.filter((_, k) => createdAt + 100 + k * 45 < asOf).length;
    expect(Math.abs(progress.ratePerSecond - finishedBefore / progress.windowSeconds)).toBeLessThan(0.5);
    expect(progress.ratePerSecond).toBeGreaterThan(10);
    // About 95 s (1896 left at about 20 a second); as of the whole second the window may end up to a second before the
    // last finishes it has seen, so a little sooner, never the 1094 s of a fixed 60 s window.
    expect(progress.etaSeconds).toBeGreaterThanOrEqual(80);
    expect(progress.etaSeconds).toBeLessThan(190);
    rolloutSchema.parse(res.body);
  });

  it('shows a completed or cancelled rollout with no rate and no ETA, and a paused one with no ETA', async () => {
    for (const status of ['completed', 'cancelled'] as const) {
      const rolloutId = await newRollout(api, instanceIds(10, `i-over-${status}`), status);
      // Finished a second ago: the rate would read 10 over the last minute.
      await api.db.prisma.rolloutInstance.updateMany({
        where: { rolloutId },
        data: { finishedAt: new Date(Date.now() - 1_000) },
      });
      const res = await api.request('GET', `/v1/rollouts/${rolloutId}`);
      expect(res.body.progress, status).toMatchObject({
        done: 10,
        fraction: 1,
        ratePerSecond: null,
        etaSeconds: null,
        etaAt: null,
      });
    }
    const rolloutId = await newRollout(api, instanceIds(10, 'i-paused'), 'running');
    await api.db.prisma.rollout.update({
      where: { id: rolloutId },
      data: { status: 'paused', createdAt: new Date(Date.now() - 600_000) },
    });
    const rows = await api.db.prisma.rolloutInstance.findMany({ where: { rolloutId }, select: { id: true }, take: 4 });
    await api.db.prisma.rolloutInstance.updateMany({
      where: { rolloutId, id: { notIn: rows.map((r) => r.id) } },
      data: { state: 'pending', finishedAt: null },
    });
    await api.db.prisma.rolloutInstance.updateMany({
      where: { id: { in: rows.map((r) => r.id) } },
      data: { finishedAt: new Date(Date.now() - 1_000) },
    });
    const paused = await api.request('GET', `/v1/rollouts/${rolloutId}`);
    expect(paused.body.progress).toMatchObject({ done: 4, etaSeconds: null, etaAt: null });
    expect(paused.body.progress.ratePerSecond).toBeCloseTo(4 / 60, 2);
  });
});
