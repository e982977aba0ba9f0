import { describe, expect, it } from 'vitest';
import { useTestDatabase } from './support.ts';
import {
  claimAttempt,
  completeRolloutIfDone,
  finishAttempt,
  insertRollout,
  markAttemptAnswerLost,
  REPLAY_WINDOW_MS,
  DIRECT_WRITER,
} from '../src/index.ts';
import type { AttemptAnswer, Database } from '../src/index.ts';

let db: Database;
useTestDatabase({ poolMax: 10 }, (opened) => (db = opened));

const USER = '1234567898765432';
async function newInstance(instanceId = 'i-abc') {
  const { rollout, instances } = await insertRollout(db, {
    userId: USER,
    force: false,
    concurrency: 5,
    maxAttempts: 3,
    policy: {},
    instanceIds: [instanceId],
  });
  return { rolloutId: rollout.id, rolloutInstanceId: instances[0]!.id };
}
function answer(outcome: AttemptAnswer['outcome'], extra: Partial<AttemptAnswer> = {}): AttemptAnswer {
  return {
    finishedAt: new Date(),
    durationMs: 5,
    httpStatus: 200,
    success: outcome === 'success',
    errorCode: outcome === 'success' ? '200' : '500',
    errorMessage: null,
    requestId: 'R-1',
    outcome,
    outcomeKind: outcome,
    ...extra,
  };
}

describe('claimAttempt', () => {
  it('writes the attempt row before the call and moves the instance to in_progress', async () => {
    const { rolloutId, rolloutInstanceId } = await newInstance();
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
    const { rolloutId, rolloutInstanceId } = await newInstance();
    const [a, b] = await Promise.all([
      claimAttempt(db, { rolloutInstanceId, rolloutId, workerId: 'w1', staleAfterMs: 60_000 }),
      claimAttempt(db, { rolloutInstanceId, rolloutId, workerId: 'w2', staleAfterMs: 60_000 }),
    ]);
    expect([a.kind, b.kind].sort()).toEqual(['busy', 'claimed']);
    expect(await db.prisma.installAttempt.count({ where: { rolloutInstanceId } })).toBe(1);
  });

  it('abandons a stale unfinished attempt (its worker died) and starts the next one', async () => {
    const { rolloutId, rolloutInstanceId } = await newInstance();
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
    const { rolloutId, rolloutInstanceId } = await newInstance();
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
    const { rolloutId, rolloutInstanceId } = await newInstance();
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
    const { rolloutId, rolloutInstanceId } = await newInstance();
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

  it('stores the nonce and timestamp an attempt is signed with, on both claim paths', async () => {
    const { rolloutId, rolloutInstanceId } = await newInstance();
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
    const { rolloutId, rolloutInstanceId } = await newInstance();
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
    const { rolloutId, rolloutInstanceId } = await newInstance();
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
    const { rolloutId, rolloutInstanceId } = await newInstance();
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
    const { rolloutId, rolloutInstanceId } = await newInstance();
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

describe('instance timeout and closed rollouts', () => {
  const t0 = new Date('2026-02-01T00:00:00Z');
  const at = (ms: number) => new Date(t0.getTime() + ms);

  /** An instance that ran attempt 1 at t0 (so its in-progress time started then) and was sent back to pending. */
  async function retriedInstance() {
    const { rolloutId, rolloutInstanceId } = await newInstance();
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
    const { rolloutId, rolloutInstanceId } = await newInstance();
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
    const { rolloutId, rolloutInstanceId } = await newInstance();
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
