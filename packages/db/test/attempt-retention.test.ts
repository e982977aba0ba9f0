import { describe, expect, it } from 'vitest';
import { instanceIds } from '@fleet/testing';
import { useTestDatabase } from './support.ts';
import { insertRollout, summariseOldAttempts } from '../src/index.ts';
import type { AttemptSummary, Database } from '../src/index.ts';

let db: Database;
useTestDatabase({ poolMax: 5 }, (opened) => (db = opened));

const DAY = 86_400_000;
const NOW = Date.now();

/**
 * A rollout of `count` instances whose first instance had a throttled attempt then a success, the second a final
 * failure, and every other one success: count + 1 attempts. `finishedDaysAgo` null leaves it running.
 */
async function rolloutWithAttempts(prefix: string, count: number, finishedDaysAgo: number | null) {
  const { rollout, instances } = await insertRollout(db, {
    userId: '1234567898765432',
    force: false,
    concurrency: 5,
    maxAttempts: 3,
    policy: {},
    instanceIds: instanceIds(count, prefix),
  });
  const startedAt = new Date(NOW - (finishedDaysAgo ?? 0) * DAY - 60_000);
  const finishedAt = new Date(startedAt.getTime() + 1000);
  const attempt = (index: number, attemptNo: number, outcome: 'success' | 'retryable' | 'final', extra = {}) => ({
    rolloutInstanceId: instances[index]!.id,
    rolloutId: rollout.id,
    attemptNo,
    startedAt,
    finishedAt,
    outcome,
    outcomeKind: outcome,
    requestId: `REQ-${prefix}-${index}-${attemptNo}`,
    ...extra,
  });
  await db.prisma.installAttempt.createMany({
    data: [
      attempt(0, 1, 'retryable', { outcomeKind: 'throttled', errorCode: 'Throttling.User' }),
      attempt(0, 2, 'success'),
      attempt(1, 1, 'final', { errorCode: '400' }),
      ...instances.slice(2).map((_, i) => attempt(i + 2, 1, 'success')),
    ],
  });
  await db.prisma.rolloutInstance.updateMany({
    where: { rolloutId: rollout.id },
    data: { state: 'succeeded', attemptCount: 1, finishedAt },
  });
  await db.prisma.rolloutInstance.update({
    where: { id: instances[1]!.id },
    data: { state: 'failed', lastErrorCode: '400', lastRequestId: `REQ-${prefix}-1-1` },
  });
  if (finishedDaysAgo !== null)
    await db.prisma.rollout.update({ where: { id: rollout.id }, data: { status: 'completed', finishedAt } });
  return rollout.id;
}

const attemptsOf = (rolloutId: string) => db.prisma.installAttempt.count({ where: { rolloutId } });

describe('summariseOldAttempts', () => {
  it('replaces the attempts of a rollout finished before the cut-off by its summary; newer and running ones keep theirs', async () => {
    const old = await rolloutWithAttempts('i-ret-old', 30, 100);
    const recent = await rolloutWithAttempts('i-ret-new', 10, 10);
    const running = await rolloutWithAttempts('i-ret-run', 10, null);
    await db.prisma.rollout.update({ where: { id: running }, data: { createdAt: new Date(NOW - 200 * DAY) } });

    const result = await summariseOldAttempts(db, { finishedBefore: new Date(NOW - 90 * DAY), batchSize: 7 });

    expect(result).toEqual({ rollouts: 1, attemptsDeleted: 31 });
    expect(await attemptsOf(old)).toBe(0);
    expect(await attemptsOf(recent)).toBe(11);
    expect(await attemptsOf(running)).toBe(11);
    const summarised = await db.prisma.rollout.findUniqueOrThrow({ where: { id: old } });
    expect(summarised.summarisedAt).not.toBeNull();
    const summary = summarised.attemptSummary as unknown as AttemptSummary;
    expect(summary).toMatchObject({ attempts: 31, instances: 30 });
    expect(summary.byOutcome).toEqual([
      { outcome: 'success', outcomeKind: 'success', errorCode: null, attempts: 29 },
      { outcome: 'final', outcomeKind: 'final', errorCode: '400', attempts: 1 },
      { outcome: 'retryable', outcomeKind: 'throttled', errorCode: 'Throttling.User', attempts: 1 },
    ]);
    expect(Date.parse(summary.firstStartedAt!)).toBeLessThan(NOW - 99 * DAY);
    // What an operator still reads of the old rollout stays on its instances.
    const failed = await db.prisma.rolloutInstance.findFirstOrThrow({ where: { rolloutId: old, state: 'failed' } });
    expect(failed).toMatchObject({ lastErrorCode: '400', lastRequestId: 'REQ-i-ret-old-1-1' });
    expect(await db.prisma.rolloutInstance.count({ where: { rolloutId: old } })).toBe(30);
    for (const id of [recent, running])
      expect((await db.prisma.rollout.findUniqueOrThrow({ where: { id } })).attemptSummary).toBeNull();

    expect(await summariseOldAttempts(db, { finishedBefore: new Date(NOW - 90 * DAY) })).toEqual({
      rollouts: 0,
      attemptsDeleted: 0,
    });
  });

  it('after a pass that died before marking the rollout, the next one keeps the first summary (never a recount of what is left) and marks it', async () => {
    const rolloutId = await rolloutWithAttempts('i-ret-crash', 20, 120);
    // The dead pass: its summary written and the rows deleted, the rollout not marked.
    await summariseOldAttempts(db, { finishedBefore: new Date(NOW - 90 * DAY), maxRollouts: 1 });
    const full = (await db.prisma.rollout.findUniqueOrThrow({ where: { id: rolloutId } })).attemptSummary;
    await db.prisma.rollout.update({ where: { id: rolloutId }, data: { summarisedAt: null } });

    const result = await summariseOldAttempts(db, { finishedBefore: new Date(NOW - 90 * DAY) });

    expect(result.rollouts).toBe(1);
    const after = await db.prisma.rollout.findUniqueOrThrow({ where: { id: rolloutId } });
    expect(after.attemptSummary).toEqual(full);
    expect((after.attemptSummary as unknown as AttemptSummary).attempts).toBe(21);
  });
});
