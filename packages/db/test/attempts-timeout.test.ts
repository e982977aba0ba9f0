/** The instance timeout and closed rollouts, as claims and answers meet them. */
import { describe, expect, it } from 'vitest';
import { claimAttempt, finishAttempt } from '../src/index.ts';
import type { Database } from '../src/index.ts';
import { answer, newInstance } from './attempt-fixtures.ts';
import { useTestDatabase } from './support.ts';

let db: Database;
useTestDatabase({ poolMax: 10 }, (opened) => (db = opened));

describe('instance timeout and closed rollouts', () => {
  const t0 = new Date('2026-02-01T00:00:00Z');
  const at = (ms: number) => new Date(t0.getTime() + ms);

  /** An instance that ran attempt 1 at t0 (so its in-progress time started then) and was sent back to pending. */
  async function retriedInstance() {
    const { rolloutId, rolloutInstanceId } = await newInstance(db);
    const claim = await claimAttempt(db, {
      rolloutInstanceId,
      rolloutId,
      workerId: 'w1',
      staleAfterMs: 60_000,
      now: t0,
    });
    if (claim.kind !== 'claimed') throw new Error('expected claim');
    const retry = await finishAttempt(db, {
      rolloutInstanceId,
      attemptId: claim.attemptId,
      attemptNo: 1,
      maxAttempts: 3,
      answer: answer('retryable', { finishedAt: at(100) }),
      nextAttemptAt: at(200),
    });
    expect(retry).toMatchObject({ kind: 'transitioned', to: 'pending', cause: 'transient_failure' });
    return { rolloutId, rolloutInstanceId };
  }

  it('a claim after the instance timeout fails the instance without a call, flagged timed_out', async () => {
    const { rolloutId, rolloutInstanceId } = await retriedInstance();
    const claim = await claimAttempt(db, {
      rolloutInstanceId,
      rolloutId,
      workerId: 'w2',
      staleAfterMs: 60_000,
      instanceTimeoutMs: 1000,
      now: at(5000),
    });
    expect(claim).toMatchObject({ kind: 'closed', to: 'failed', cause: 'timed_out' });
    expect(await db.prisma.rolloutInstance.findUniqueOrThrow({ where: { id: rolloutInstanceId } })).toMatchObject({
      state: 'failed',
      lastOutcome: 'timed_out',
      lastErrorCode: 'InstanceTimeout',
      needsManualInstall: true,
      manualInstallReason: 'timed_out',
    });
    expect(await db.prisma.installAttempt.count({ where: { rolloutInstanceId } })).toBe(1);
  });

  it('a retryable answer after the instance timeout fails the instance as timed_out, whatever reason the worker gave', async () => {
    const { rolloutId, rolloutInstanceId } = await newInstance(db);
    const claim = await claimAttempt(db, {
      rolloutInstanceId,
      rolloutId,
      workerId: 'w1',
      staleAfterMs: 60_000,
      now: t0,
    });
    if (claim.kind !== 'claimed') throw new Error('expected claim');
    const finished = await finishAttempt(db, {
      rolloutInstanceId,
      attemptId: claim.attemptId,
      attemptNo: 1,
      maxAttempts: 3,
      answer: answer('retryable', { finishedAt: at(2000) }),
      nextAttemptAt: at(2500),
      manualInstallReason: 'retries_exhausted',
      instanceTimeoutMs: 1000,
    });
    expect(finished).toMatchObject({ kind: 'transitioned', to: 'failed', cause: 'timed_out' });
    expect(await db.prisma.rolloutInstance.findUniqueOrThrow({ where: { id: rolloutInstanceId } })).toMatchObject({
      state: 'failed',
      needsManualInstall: true,
      manualInstallReason: 'timed_out',
      nextAttemptAt: null,
    });
  });

  it('a final answer flags the instance with the reason the worker gave', async () => {
    const { rolloutId, rolloutInstanceId } = await newInstance(db);
    const claim = await claimAttempt(db, { rolloutInstanceId, rolloutId, workerId: 'w1', staleAfterMs: 60_000 });
    if (claim.kind !== 'claimed') throw new Error('expected claim');
    const finished = await finishAttempt(db, {
      rolloutInstanceId,
      attemptId: claim.attemptId,
      attemptNo: 1,
      maxAttempts: 3,
      answer: answer('final', { httpStatus: 404 }),
      nextAttemptAt: null,
      manualInstallReason: 'instance_not_found',
    });
    expect(finished).toMatchObject({ kind: 'transitioned', to: 'failed', cause: 'permanent_failure' });
    expect(await db.prisma.rolloutInstance.findUniqueOrThrow({ where: { id: rolloutInstanceId } })).toMatchObject({
      needsManualInstall: true,
      manualInstallReason: 'instance_not_found',
    });
  });

  it('a claim in a cancelled rollout cancels the instance without flagging it', async () => {
    const { rolloutId, rolloutInstanceId } = await retriedInstance();
    await db.prisma.rollout.update({ where: { id: rolloutId }, data: { status: 'cancelled' } });
    const claim = await claimAttempt(db, { rolloutInstanceId, rolloutId, workerId: 'w2', staleAfterMs: 60_000 });
    expect(claim).toMatchObject({ kind: 'closed', to: 'cancelled', cause: 'rollout_closed' });
    expect(await db.prisma.rolloutInstance.findUniqueOrThrow({ where: { id: rolloutInstanceId } })).toMatchObject({
      state: 'cancelled',
      lastOutcome: 'cancelled',
      needsManualInstall: false,
      manualInstallReason: null,
    });
  });
});
