/** Claiming an attempt before the call, recording its answer once, retrying, and completing the rollout. */
import { describe, expect, it } from 'vitest';
import { claimAttempt, completeRolloutIfDone, finishAttempt, insertRollout, DIRECT_WRITER } from '../src/index.ts';
import type { Database } from '../src/index.ts';
import { answer, newInstance, USER } from './attempt-fixtures.ts';
import { useTestDatabase } from './support.ts';

let db: Database;
useTestDatabase({ poolMax: 10 }, (opened) => (db = opened));

describe('claimAttempt', () => {
  it('writes the attempt row before the call and moves the instance to in_progress', async () => {
    const { rolloutId, rolloutInstanceId } = await newInstance(db);
    const claim = await claimAttempt(db, { rolloutInstanceId, rolloutId, workerId: 'w1', staleAfterMs: 60_000 });
    expect(claim).toMatchObject({ kind: 'claimed', attemptNo: 1, abandonedAttemptNo: null });
    const instance = await db.prisma.rolloutInstance.findUniqueOrThrow({
      where: { id: rolloutInstanceId },
      include: { attempts: true },
    });
    expect(instance).toMatchObject({ state: 'in_progress', attemptCount: 1 });
    expect(instance.attempts).toEqual([expect.objectContaining({ attemptNo: 1, finishedAt: null, workerId: 'w1' })]);
  });

  it('lets exactly one of two concurrent deliveries claim; the other is told to come back', async () => {
    const { rolloutId, rolloutInstanceId } = await newInstance(db);
    const [a, b] = await Promise.all([
      claimAttempt(db, { rolloutInstanceId, rolloutId, workerId: 'w1', staleAfterMs: 60_000 }),
      claimAttempt(db, { rolloutInstanceId, rolloutId, workerId: 'w2', staleAfterMs: 60_000 }),
    ]);
    expect([a.kind, b.kind].sort()).toEqual(['busy', 'claimed']);
    expect(await db.prisma.installAttempt.count({ where: { rolloutInstanceId } })).toBe(1);
  });

  it('abandons a stale unfinished attempt (its worker died) and starts the next one', async () => {
    const { rolloutId, rolloutInstanceId } = await newInstance(db);
    const t0 = new Date('2026-01-01T00:00:00Z');
    await claimAttempt(db, { rolloutInstanceId, rolloutId, workerId: 'dead', staleAfterMs: 1000, now: t0 });
    const early = await claimAttempt(db, {
      rolloutInstanceId,
      rolloutId,
      workerId: 'w2',
      staleAfterMs: 1000,
      now: new Date(t0.getTime() + 500),
    });
    expect(early).toEqual({ kind: 'busy', retryAt: new Date(t0.getTime() + 1000) });
    const late = await claimAttempt(db, {
      rolloutInstanceId,
      rolloutId,
      workerId: 'w2',
      staleAfterMs: 1000,
      now: new Date(t0.getTime() + 1500),
    });
    expect(late).toMatchObject({ kind: 'claimed', attemptNo: 2, abandonedAttemptNo: 1 });
    const attempts = await db.prisma.installAttempt.findMany({
      where: { rolloutInstanceId },
      orderBy: { attemptNo: 'asc' },
    });
    expect(attempts.map((a) => [a.attemptNo, a.outcome])).toEqual([
      [1, 'abandoned'],
      [2, null],
    ]);
  });

  it('does nothing for a final instance', async () => {
    const { rolloutId, rolloutInstanceId } = await newInstance(db);
    const claim = await claimAttempt(db, { rolloutInstanceId, rolloutId, workerId: 'w1', staleAfterMs: 60_000 });
    if (claim.kind !== 'claimed') throw new Error('expected claim');
    await finishAttempt(db, {
      rolloutInstanceId,
      attemptId: claim.attemptId,
      attemptNo: 1,
      maxAttempts: 3,
      answer: answer('success'),
      nextAttemptAt: null,
    });
    expect(await claimAttempt(db, { rolloutInstanceId, rolloutId, workerId: 'w1', staleAfterMs: 0 })).toEqual({
      kind: 'final',
      state: 'succeeded',
    });
    expect(await db.prisma.installAttempt.count({ where: { rolloutInstanceId } })).toBe(1);
  });
});

describe('finishAttempt', () => {
  it('records an answer once: a second delivery of the same answer changes nothing', async () => {
    const { rolloutId, rolloutInstanceId } = await newInstance(db);
    const claim = await claimAttempt(db, { rolloutInstanceId, rolloutId, workerId: 'w1', staleAfterMs: 60_000 });
    if (claim.kind !== 'claimed') throw new Error('expected claim');
    const input = {
      rolloutInstanceId,
      attemptId: claim.attemptId,
      attemptNo: 1,
      maxAttempts: 3,
      answer: answer('success'),
      nextAttemptAt: null,
    };
    const [first, second] = [
      await finishAttempt(db, input),
      await finishAttempt(db, { ...input, answer: answer('final', { requestId: 'R-2' }) }),
    ];
    expect(first).toMatchObject({ kind: 'transitioned', to: 'succeeded' });
    expect(second).toEqual({ kind: 'duplicate' });
    const instance = await db.prisma.rolloutInstance.findUniqueOrThrow({
      where: { id: rolloutInstanceId },
      include: { attempts: true },
    });
    expect(instance.state).toBe('succeeded');
    expect(instance.attempts).toHaveLength(1);
    expect(instance.attempts[0]).toMatchObject({ requestId: 'R-1', outcome: 'success' });
  });

  it('sends a retryable failure back to pending, then fails the instance on the last attempt with the manual-install reason', async () => {
    const { rolloutId, rolloutInstanceId } = await newInstance(db);
    for (let n = 1; n <= 3; n++) {
      const claim = await claimAttempt(db, { rolloutInstanceId, rolloutId, workerId: 'w1', staleAfterMs: 60_000 });
      if (claim.kind !== 'claimed') throw new Error('expected claim');
      expect(claim.attemptNo).toBe(n);
      const res = await finishAttempt(db, {
        rolloutInstanceId,
        attemptId: claim.attemptId,
        attemptNo: n,
        maxAttempts: 3,
        answer: answer('retryable', { httpStatus: 503 }),
        nextAttemptAt: new Date(),
        manualInstallReason: 'retries_exhausted',
      });
      expect(res).toMatchObject({ kind: 'transitioned', to: n < 3 ? 'pending' : 'failed' });
    }
    const instance = await db.prisma.rolloutInstance.findUniqueOrThrow({ where: { id: rolloutInstanceId } });
    expect(instance).toMatchObject({
      state: 'failed',
      attemptCount: 3,
      needsManualInstall: true,
      manualInstallReason: 'retries_exhausted',
      lastHttpStatus: 503,
    });
  });
});

describe('completeRolloutIfDone', () => {
  it('completes a rollout only once every instance is final', async () => {
    const { rollout, instances } = await insertRollout(db, {
      userId: USER,
      force: false,
      concurrency: 5,
      maxAttempts: 1,
      policy: {},
      instanceIds: ['i-c1', 'i-c2'],
    });
    for (const [i, inst] of instances.entries()) {
      expect(await completeRolloutIfDone(db, rollout.id, DIRECT_WRITER)).toBe(false);
      const claim = await claimAttempt(db, {
        rolloutInstanceId: inst.id,
        rolloutId: rollout.id,
        workerId: 'w',
        staleAfterMs: 1000,
      });
      if (claim.kind !== 'claimed') throw new Error('expected claim');
      await finishAttempt(db, {
        rolloutInstanceId: inst.id,
        attemptId: claim.attemptId,
        attemptNo: 1,
        maxAttempts: 1,
        answer: answer(i === 0 ? 'success' : 'final'),
        nextAttemptAt: null,
      });
    }
    expect(await completeRolloutIfDone(db, rollout.id, DIRECT_WRITER)).toBe(true);
    expect(await completeRolloutIfDone(db, rollout.id, DIRECT_WRITER)).toBe(false);
    expect(await db.prisma.rollout.findUniqueOrThrow({ where: { id: rollout.id } })).toMatchObject({
      status: 'completed',
    });
  });
});
