import { describe, expect, it } from 'vitest';
import type { Database } from '@fleet/db';
import type { Redis } from 'ioredis';
import { capturingLogger, instanceIds, uniquePrefix } from '@fleet/testing';
import type { RunningSimulator } from './support.ts';
import { createEnqueuedRollout, makeReconciler, useReconcilerServices } from './support.ts';

const prefix = uniquePrefix('retention');
const { logger, lines } = capturingLogger({ service: 'retention-test' });
let db: Database;
let redis: Redis;
let simulator: RunningSimulator;
useReconcilerServices({ prefix, logger }, (services) => ({ db, redis, simulator } = services));

/** A rollout that completed `daysAgo` days ago with one answered attempt per instance. */
async function finishedRollout(idPrefix: string, daysAgo: number): Promise<string> {
  const { rolloutId, instances } = await createEnqueuedRollout(db, redis, prefix, logger, instanceIds(5, idPrefix), {
    enqueue: false,
  });
  const finishedAt = new Date(Date.now() - daysAgo * 86_400_000);
  await db.prisma.installAttempt.createMany({
    data: instances.map((instance) => ({
      rolloutInstanceId: instance.id,
      rolloutId,
      attemptNo: 1,
      startedAt: finishedAt,
      finishedAt,
      outcome: 'success' as const,
      outcomeKind: 'success',
    })),
  });
  await db.prisma.rolloutInstance.updateMany({ where: { rolloutId }, data: { state: 'succeeded', finishedAt } });
  await db.prisma.rollout.update({ where: { id: rolloutId }, data: { status: 'completed', finishedAt } });
  return rolloutId;
}

describe('attempt retention in the reconciler pass', () => {
  it('keeps every attempt with ATTEMPT_RETENTION_DAYS 0, and past 90 days replaces them by the summary, one rollout a pass', async () => {
    const first = await finishedRollout('i-rtn-a', 120);
    const second = await finishedRollout('i-rtn-b', 100);
    const recent = await finishedRollout('i-rtn-c', 30);

    const keeping = makeReconciler({ db, redis, prefix, logger, cms: simulator.cms, attemptRetentionDays: 0 });
    expect((await keeping.runOnce()).summarisedRollouts).toBe(0);
    expect(await db.prisma.installAttempt.count({ where: { rolloutId: { in: [first, second, recent] } } })).toBe(15);

    const pruning = makeReconciler({ db, redis, prefix, logger, cms: simulator.cms, attemptRetentionDays: 90 });
    expect((await pruning.runOnce()).summarisedRollouts).toBe(1);
    expect(await db.prisma.installAttempt.count({ where: { rolloutId: first } })).toBe(0);
    expect(await db.prisma.installAttempt.count({ where: { rolloutId: second } })).toBe(5);
    expect((await pruning.runOnce()).summarisedRollouts).toBe(1);
    expect((await pruning.runOnce()).summarisedRollouts).toBe(0);
    expect(await db.prisma.installAttempt.count({ where: { rolloutId: { in: [first, second] } } })).toBe(0);
    expect(await db.prisma.installAttempt.count({ where: { rolloutId: recent } })).toBe(5);
    const summary = (await db.prisma.rollout.findUniqueOrThrow({ where: { id: second } })).attemptSummary;
    expect(summary).toMatchObject({ attempts: 5, instances: 5 });
    expect(lines.some((line) => line.includes('replaced old attempt rows by their summary'))).toBe(true);
  });
});
