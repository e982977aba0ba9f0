/**
 * Signed attempts: the nonce and timestamp stored on claim, the replay of a dead worker's call, its lost answer, and
 * abandoning once the signing is too old.
 */
import { describe, expect, it } from 'vitest';
import { claimAttempt, finishAttempt, markAttemptAnswerLost, REPLAY_WINDOW_MS } from '../src/index.ts';
import type { Database } from '../src/index.ts';
import { answer, newInstance } from './attempt-fixtures.ts';
import { useTestDatabase } from './support.ts';

let db: Database;
useTestDatabase({ poolMax: 10 }, (opened) => (db = opened));

describe('finishAttempt with signed attempts', () => {
  it('stores the nonce and timestamp an attempt is signed with, on both claim paths', async () => {
    const { rolloutId, rolloutInstanceId } = await newInstance(db);
    const t0 = new Date('2026-01-01T00:00:00.123Z');
    const fast = await claimAttempt(db, {
      rolloutInstanceId,
      rolloutId,
      workerId: 'w1',
      staleAfterMs: 1000,
      signatureNonce: 'nonce-1',
      now: t0,
    });
    expect(fast).toMatchObject({ kind: 'claimed', attemptNo: 1, signing: { nonce: 'nonce-1', timestamp: t0 } });
    // A stale attempt without a stored nonce (written before signing was stored) cannot be replayed: the general path abandons it.
    await db.prisma.installAttempt.updateMany({
      where: { rolloutInstanceId },
      data: { signatureNonce: null, signedAt: null },
    });
    const t1 = new Date(t0.getTime() + 2000);
    const general = await claimAttempt(db, {
      rolloutInstanceId,
      rolloutId,
      workerId: 'w2',
      staleAfterMs: 1000,
      signatureNonce: 'nonce-2',
      now: t1,
    });
    expect(general).toMatchObject({
      kind: 'claimed',
      attemptNo: 2,
      abandonedAttemptNo: 1,
      signing: { nonce: 'nonce-2', timestamp: t1 },
    });
    const rows = await db.prisma.installAttempt.findMany({
      where: { rolloutInstanceId },
      orderBy: { attemptNo: 'asc' },
    });
    expect(rows.map((a) => [a.attemptNo, a.outcome, a.signatureNonce, a.signedAt?.toISOString() ?? null])).toEqual([
      [1, 'abandoned', null, null],
      [2, null, 'nonce-2', t1.toISOString()],
    ]);
  });

  it("answers replay for a dead worker's signed attempt, once per staleness period, with its original signing", async () => {
    const { rolloutId, rolloutInstanceId } = await newInstance(db);
    const t0 = new Date('2026-01-01T00:00:00Z');
    const first = await claimAttempt(db, {
      rolloutInstanceId,
      rolloutId,
      workerId: 'dead',
      staleAfterMs: 1000,
      signatureNonce: 'n-first',
      now: t0,
    });
    if (first.kind !== 'claimed') throw new Error('expected claim');
    const at = (ms: number) => new Date(t0.getTime() + ms);
    const replay = await claimAttempt(db, {
      rolloutInstanceId,
      rolloutId,
      workerId: 'w2',
      staleAfterMs: 1000,
      signatureNonce: 'n-other',
      now: at(1500),
    });
    expect(replay).toEqual({
      kind: 'replay',
      attemptId: first.attemptId,
      attemptNo: 1,
      signing: { nonce: 'n-first', timestamp: t0 },
      credentialsId: null,
    });
    // The replay makes the attempt busy again: a concurrent delivery waits for it, as for the first call.
    expect(
      await claimAttempt(db, {
        rolloutInstanceId,
        rolloutId,
        workerId: 'w3',
        staleAfterMs: 1000,
        signatureNonce: 'n3',
        now: at(2000),
      }),
    ).toEqual({
      kind: 'busy',
      retryAt: at(2500),
    });
    // The replayer died too: the next one replays the same request again.
    expect(
      await claimAttempt(db, {
        rolloutInstanceId,
        rolloutId,
        workerId: 'w3',
        staleAfterMs: 1000,
        signatureNonce: 'n3',
        now: at(2600),
      }),
    ).toMatchObject({
      kind: 'replay',
      attemptNo: 1,
      signing: { nonce: 'n-first' },
    });
    const row = await db.prisma.installAttempt.findUniqueOrThrow({ where: { id: first.attemptId } });
    expect(row).toMatchObject({
      finishedAt: null,
      outcome: null,
      workerId: 'dead',
      replayedBy: 'w3',
      replayStartedAt: at(2600),
    });
    expect(await db.prisma.installAttempt.count({ where: { rolloutInstanceId } })).toBe(1);

    // A replay's real answer is the attempt's answer; the instance moves on it as on any first answer.
    const res = await finishAttempt(db, {
      rolloutInstanceId,
      attemptId: first.attemptId,
      attemptNo: 1,
      maxAttempts: 3,
      answer: answer('success'),
      nextAttemptAt: null,
    });
    expect(res).toMatchObject({ kind: 'transitioned', to: 'succeeded' });
  });

  it('closes a replayed attempt whose call had arrived as answer_lost, and the next claim starts attempt N+1', async () => {
    const { rolloutId, rolloutInstanceId } = await newInstance(db);
    const t0 = new Date('2026-01-01T00:00:00Z');
    const first = await claimAttempt(db, {
      rolloutInstanceId,
      rolloutId,
      workerId: 'dead',
      staleAfterMs: 1000,
      signatureNonce: 'n-a',
      now: t0,
    });
    if (first.kind !== 'claimed') throw new Error('expected claim');
    const replay = await claimAttempt(db, {
      rolloutInstanceId,
      rolloutId,
      workerId: 'w2',
      staleAfterMs: 1000,
      signatureNonce: 'n-b',
      now: new Date(t0.getTime() + 1500),
    });
    expect(replay.kind).toBe('replay');
    expect(
      await markAttemptAnswerLost(db, {
        attemptId: first.attemptId,
        at: new Date(t0.getTime() + 1600),
        replayRequestId: 'R-replay',
      }),
    ).toBe(true);
    expect(
      await markAttemptAnswerLost(db, {
        attemptId: first.attemptId,
        at: new Date(t0.getTime() + 1700),
        replayRequestId: 'R-replay',
      }),
    ).toBe(false);
    const next = await claimAttempt(db, {
      rolloutInstanceId,
      rolloutId,
      workerId: 'w2',
      staleAfterMs: 1000,
      signatureNonce: 'n-c',
      now: new Date(t0.getTime() + 1800),
    });
    expect(next).toMatchObject({ kind: 'claimed', attemptNo: 2, abandonedAttemptNo: null, signing: { nonce: 'n-c' } });
    const rows = await db.prisma.installAttempt.findMany({
      where: { rolloutInstanceId },
      orderBy: { attemptNo: 'asc' },
    });
    expect(rows.map((a) => [a.attemptNo, a.outcome, a.outcomeKind])).toEqual([
      [1, 'abandoned', 'answer_lost'],
      [2, null, null],
    ]);
    expect(rows[0]!.errorMessage).toContain('SignatureNonceUsed');
    expect(rows[0]!.errorMessage).toContain('R-replay');
  });

  it('abandons instead of replaying once the signed timestamp is too old for CloudMonitor to judge the nonce', async () => {
    const { rolloutId, rolloutInstanceId } = await newInstance(db);
    const t0 = new Date('2026-01-01T00:00:00Z');
    await claimAttempt(db, {
      rolloutInstanceId,
      rolloutId,
      workerId: 'dead',
      staleAfterMs: 1000,
      signatureNonce: 'n-old',
      now: t0,
    });
    const late = await claimAttempt(db, {
      rolloutInstanceId,
      rolloutId,
      workerId: 'w2',
      staleAfterMs: 1000,
      signatureNonce: 'n-new',
      now: new Date(t0.getTime() + REPLAY_WINDOW_MS),
    });
    expect(late).toMatchObject({ kind: 'claimed', attemptNo: 2, abandonedAttemptNo: 1 });
    const rows = await db.prisma.installAttempt.findMany({
      where: { rolloutInstanceId },
      orderBy: { attemptNo: 'asc' },
    });
    expect(rows[0]).toMatchObject({ outcome: 'abandoned', outcomeKind: 'abandoned' });
    expect(rows[0]!.errorMessage).toContain('too long ago');
  });

  it('keeps the real answer of an abandoned attempt without moving the instance that went on', async () => {
    const { rolloutId, rolloutInstanceId } = await newInstance(db);
    const t0 = new Date('2026-01-01T00:00:00Z');
    const slow = await claimAttempt(db, {
      rolloutInstanceId,
      rolloutId,
      workerId: 'slow',
      staleAfterMs: 1000,
      now: t0,
    });
    await claimAttempt(db, {
      rolloutInstanceId,
      rolloutId,
      workerId: 'w2',
      staleAfterMs: 1000,
      now: new Date(t0.getTime() + 2000),
    });
    if (slow.kind !== 'claimed') throw new Error('expected claim');
    const res = await finishAttempt(db, {
      rolloutInstanceId,
      attemptId: slow.attemptId,
      attemptNo: 1,
      maxAttempts: 3,
      answer: answer('success'),
      nextAttemptAt: null,
    });
    expect(res).toEqual({ kind: 'recorded_only' });
    const instance = await db.prisma.rolloutInstance.findUniqueOrThrow({
      where: { id: rolloutInstanceId },
      include: { attempts: { orderBy: { attemptNo: 'asc' } } },
    });
    expect(instance.state).toBe('in_progress');
    expect(instance.attempts.map((a) => a.outcome)).toEqual(['success', null]);
  });
});
