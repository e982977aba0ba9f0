import { describe, expect, it } from 'vitest';
import {
  checkRolloutDone,
  completeRolloutIfDone,
  countInstances,
  createAttemptWriter,
  createGroupCommit,
  insertRollout,
  DIRECT_WRITER,
} from '../src/index.ts';
import type { Database } from '../src/index.ts';
import { answer, USER } from './attempt-fixtures.ts';
import { useTestDatabase } from './support.ts';

let db: Database;
useTestDatabase({ poolMax: 10 }, (opened) => (db = opened));

let rolloutSeq = 0;
async function newRollout(count: number) {
  const ids = Array.from({ length: count }, (_, i) => `i-w${rolloutSeq}x${i}`);
  rolloutSeq++;
  return insertRollout(db, {
    userId: USER,
    force: false,
    concurrency: 50,
    maxAttempts: 3,
    policy: {},
    instanceIds: ids,
  });
}
/** rollout_finish_second of a rollout, and the same counted from its rows, as `second-ISO` -> n (zeros left out). */
async function finishSeconds(rolloutId: string) {
  const kept = await db.prisma.$queryRaw<{ second: Date; n: number }[]>`
    SELECT second, n FROM rollout_finish_second WHERE rollout_id = ${rolloutId}::uuid AND n <> 0`;
  const rows = await db.prisma.$queryRaw<{ second: Date; n: bigint }[]>`
    SELECT date_trunc('second', finished_at) AS second, count(*) AS n FROM rollout_instance
    WHERE rollout_id = ${rolloutId}::uuid AND finished_at IS NOT NULL GROUP BY 1`;
  return {
    kept: Object.fromEntries(kept.map((r) => [r.second.toISOString(), Number(r.n)])),
    fromRows: Object.fromEntries(rows.map((r) => [r.second.toISOString(), Number(r.n)])),
  };
}
/** Counts per state the slow way, to hold the trigger-kept counters against. */
async function countRows(rolloutId: string) {
  const rows = await db.prisma.rolloutInstance.groupBy({ by: ['state'], where: { rolloutId }, _count: true });
  return Object.fromEntries(rows.map((r) => [r.state, r._count]));
}

describe('createGroupCommit', () => {
  it('commits writes submitted together in one call and answers each with its own result, in order', async () => {
    const batches: number[][] = [];
    const group = createGroupCommit(async (inputs: number[]) => {
      batches.push(inputs);
      return inputs.map((n) => n * 10);
    });
    const results = await Promise.all([1, 2, 3, 4].map((n) => group.submit(n)));
    expect(results).toEqual([10, 20, 30, 40]);
    expect(batches).toEqual([[1, 2, 3, 4]]);
  });

  it('queues writes while a batch is in flight and sends them together when it returns; a failed batch fails only its own writes', async () => {
    const batches: number[][] = [];
    let release!: () => void;
    const firstBatchHeld = new Promise<void>((resolve) => (release = resolve));
    const group = createGroupCommit(
      async (inputs: number[]) => {
        batches.push(inputs);
        if (batches.length === 1) {
          await firstBatchHeld;
          throw new Error('statement failed');
        }
        return inputs;
      },
      { maxConcurrentBatches: 1 },
    );
    const first = group.submit(1);
    await new Promise((resolve) => setImmediate(resolve));
    const later = [group.submit(2), group.submit(3)];
    release();
    await expect(first).rejects.toThrow('statement failed');
    expect(await Promise.all(later)).toEqual([2, 3]);
    expect(batches).toEqual([[1], [2, 3]]);
  });
});

describe('createAttemptWriter', () => {
  it('claims many instances of concurrent jobs in one go: each gets its own attempt row, written before the claim resolves', async () => {
    const { rollout, instances } = await newRollout(20);
    const writer = createAttemptWriter(db);
    const claims = await Promise.all(
      instances.map((i) =>
        writer.claim({ rolloutInstanceId: i.id, rolloutId: rollout.id, workerId: 'w1', staleAfterMs: 60_000 }),
      ),
    );
    expect(claims.every((c) => c.kind === 'claimed' && c.attemptNo === 1)).toBe(true);
    const attemptIds = claims.map((c) => (c.kind === 'claimed' ? c.attemptId : null));
    expect(new Set(attemptIds).size).toBe(20);
    const rows = await db.prisma.installAttempt.findMany({ where: { rolloutId: rollout.id } });
    expect(rows.map((r) => r.id).sort()).toEqual([...attemptIds].sort());
    expect(rows.every((r) => r.finishedAt === null && r.workerId === 'w1')).toBe(true);
    expect(await countInstances(db, rollout.id)).toMatchObject({ total: 20, pending: 0, in_progress: 20 });
  });

  it('lets exactly one of two deliveries of the same instance claim, also when both land in one batch', async () => {
    const { rollout, instances } = await newRollout(1);
    const writer = createAttemptWriter(db);
    const input = { rolloutInstanceId: instances[0]!.id, rolloutId: rollout.id, staleAfterMs: 60_000 };
    const [a, b] = await Promise.all([
      writer.claim({ ...input, workerId: 'w1' }),
      writer.claim({ ...input, workerId: 'w2' }),
    ]);
    expect([a.kind, b.kind].sort()).toEqual(['busy', 'claimed']);
    expect(await db.prisma.installAttempt.count({ where: { rolloutInstanceId: instances[0]!.id } })).toBe(1);
  });

  it('records the answers of concurrent jobs together; a second delivery of an answer is a duplicate and changes nothing', async () => {
    const { rollout, instances } = await newRollout(10);
    const writer = createAttemptWriter(db);
    const claims = await Promise.all(
      instances.map((i) =>
        writer.claim({ rolloutInstanceId: i.id, rolloutId: rollout.id, workerId: 'w1', staleAfterMs: 60_000 }),
      ),
    );
    const finishes = claims.map((claim, n) => {
      if (claim.kind !== 'claimed') throw new Error('expected claims');
      const outcome = n % 3 === 0 ? 'retryable' : n % 3 === 1 ? 'final' : 'success';
      return {
        rolloutInstanceId: instances[n]!.id,
        attemptId: claim.attemptId,
        attemptNo: claim.attemptNo,
        maxAttempts: 3,
        answer: answer(outcome, { requestId: `R-${n}` }),
        nextAttemptAt: outcome === 'retryable' ? new Date(Date.now() + 60_000) : null,
        manualInstallReason: outcome === 'final' ? 'rejected' : null,
      };
    });
    const results = await Promise.all(finishes.map((f) => writer.finish(f)));
    expect(results.map((r) => (r.kind === 'transitioned' ? r.to : r.kind))).toEqual(
      finishes.map(
        (f) =>
          ({ retryable: 'pending', final: 'failed', success: 'succeeded' })[
            f.answer.outcome as 'retryable' | 'final' | 'success'
          ],
      ),
    );
    const again = await Promise.all(
      finishes.map((f) => writer.finish({ ...f, answer: answer('success', { requestId: 'R-late' }) })),
    );
    expect(again.every((r) => r.kind === 'duplicate')).toBe(true);

    const rows = await db.prisma.rolloutInstance.findMany({
      where: { rolloutId: rollout.id },
      include: { attempts: true },
      orderBy: { id: 'asc' },
    });
    for (const [n, row] of rows.entries()) {
      expect(row.attempts).toHaveLength(1);
      expect(row.attempts[0]).toMatchObject({ requestId: `R-${n}`, outcome: finishes[n]!.answer.outcome });
      expect(row.lastRequestId).toBe(`R-${n}`);
      if (row.state === 'pending') expect(row.nextAttemptAt).not.toBeNull();
      if (row.state === 'failed')
        expect(row).toMatchObject({ needsManualInstall: true, manualInstallReason: 'rejected' });
      if (row.state === 'succeeded')
        expect(row).toMatchObject({ needsManualInstall: false, finishedAt: expect.any(Date) });
    }
  });

  it("records when each call went as its attempt's started_at (sentAt), and keeps the claimed start without one", async () => {
    const { rollout, instances } = await newRollout(4);
    const writer = createAttemptWriter(db);
    const claimedAt = new Date(Date.now() - 5_000);
    const claims = await Promise.all(
      instances.map((i) =>
        writer.claim({
          rolloutInstanceId: i.id,
          rolloutId: rollout.id,
          workerId: 'w1',
          staleAfterMs: 60_000,
          now: claimedAt,
        }),
      ),
    );
    const sentAt = new Date(claimedAt.getTime() + 1_234);
    await Promise.all(
      claims.map((claim, n) => {
        if (claim.kind !== 'claimed') throw new Error('expected claims');
        return writer.finish({
          rolloutInstanceId: instances[n]!.id,
          attemptId: claim.attemptId,
          attemptNo: claim.attemptNo,
          maxAttempts: 3,
          answer: answer('success', { sentAt: n % 2 === 0 ? sentAt : null }),
          nextAttemptAt: null,
        });
      }),
    );
    const rows = await db.prisma.installAttempt.findMany({
      where: { rolloutInstanceId: { in: instances.map((i) => i.id) } },
      orderBy: { rolloutInstanceId: 'asc' },
    });
    expect(rows.map((r) => r.startedAt.getTime() - claimedAt.getTime())).toEqual([1_234, 0, 1_234, 0]);
    expect(rows.every((r) => r.signedAt === null || r.signedAt.getTime() === claimedAt.getTime())).toBe(true);
  });

  it('carries claims and answers submitted at the same moment in one statement, each answered with its own result', async () => {
    const { rollout, instances } = await newRollout(6);
    const writer = createAttemptWriter(db);
    const first = await Promise.all(
      instances
        .slice(0, 3)
        .map((i) =>
          writer.claim({ rolloutInstanceId: i.id, rolloutId: rollout.id, workerId: 'w1', staleAfterMs: 60_000 }),
        ),
    );
    const mixed = await Promise.all([
      ...first.map((claim, n) => {
        if (claim.kind !== 'claimed') throw new Error('expected claims');
        return writer.finish({
          rolloutInstanceId: instances[n]!.id,
          attemptId: claim.attemptId,
          attemptNo: 1,
          maxAttempts: 3,
          answer: answer('success'),
          nextAttemptAt: null,
        });
      }),
      ...instances
        .slice(3)
        .map((i) =>
          writer.claim({ rolloutInstanceId: i.id, rolloutId: rollout.id, workerId: 'w2', staleAfterMs: 60_000 }),
        ),
      // a claim of an instance answered in this very batch: it sees the instance as it was (in_progress) and waits
      writer.claim({
        rolloutInstanceId: instances[0]!.id,
        rolloutId: rollout.id,
        workerId: 'w3',
        staleAfterMs: 60_000,
      }),
    ]);
    expect(mixed.slice(0, 3)).toEqual(
      [0, 1, 2].map(() => expect.objectContaining({ kind: 'transitioned', to: 'succeeded' })),
    );
    expect(mixed.slice(3, 6)).toEqual([0, 1, 2].map(() => expect.objectContaining({ kind: 'claimed', attemptNo: 1 })));
    expect(['busy', 'final']).toContain(mixed[6]!.kind);
    expect(await countInstances(db, rollout.id)).toMatchObject({ total: 6, succeeded: 3, in_progress: 3, pending: 0 });
    expect(await db.prisma.installAttempt.count({ where: { rolloutId: rollout.id } })).toBe(6);
  });

  it('takes the general path when the one-statement guard does not hold: a paused rollout starts nothing', async () => {
    const { rollout, instances } = await newRollout(2);
    await db.prisma.rollout.update({ where: { id: rollout.id }, data: { status: 'paused' } });
    const writer = createAttemptWriter(db);
    const claims = await Promise.all(
      instances.map((i) =>
        writer.claim({ rolloutInstanceId: i.id, rolloutId: rollout.id, workerId: 'w1', staleAfterMs: 60_000 }),
      ),
    );
    expect(claims).toEqual([{ kind: 'paused' }, { kind: 'paused' }]);
    expect(await db.prisma.installAttempt.count({ where: { rolloutId: rollout.id } })).toBe(0);
  });
});

describe('rollout state counters', () => {
  it('equal the rows after every kind of write (insert, claims, answers, bulk updates, deletes) and let completion see the last instance', async () => {
    const { rollout, instances } = await newRollout(12);
    const writer = createAttemptWriter(db);
    expect(await countInstances(db, rollout.id)).toMatchObject({ total: 12, pending: 12 });

    const claimed = await Promise.all(
      instances
        .slice(0, 8)
        .map((i) =>
          writer.claim({ rolloutInstanceId: i.id, rolloutId: rollout.id, workerId: 'w1', staleAfterMs: 60_000 }),
        ),
    );
    await Promise.all(
      claimed.map((claim, n) => {
        if (claim.kind !== 'claimed') throw new Error('expected claims');
        return writer.finish({
          rolloutInstanceId: instances[n]!.id,
          attemptId: claim.attemptId,
          attemptNo: 1,
          maxAttempts: 3,
          answer: answer(n < 6 ? 'success' : 'final'),
          nextAttemptAt: null,
        });
      }),
    );
    // The seconds of the finished instances move with the same statements.
    const seconds = await finishSeconds(rollout.id);
    expect(Object.values(seconds.fromRows).reduce((a, b) => a + b, 0)).toBe(8);
    expect(seconds.kept).toEqual(seconds.fromRows);
    // A bulk write from elsewhere (a cancel, the reconciler, psql) moves the counters just the same.
    await db.prisma.$executeRaw`UPDATE rollout_instance SET state = 'cancelled'
      WHERE rollout_id = ${rollout.id}::uuid AND state = 'pending' AND id = ${instances[8]!.id}`;
    const counts = await countInstances(db, rollout.id);
    expect(counts).toMatchObject({ total: 12, pending: 3, in_progress: 0, succeeded: 6, failed: 2, cancelled: 1 });
    const { total, ...byState } = counts;
    expect(Object.fromEntries(Object.entries(byState).filter(([, n]) => n > 0))).toEqual(await countRows(rollout.id));
    expect(total).toBe(12);

    expect(await completeRolloutIfDone(db, rollout.id, DIRECT_WRITER)).toBe(false);
    // The same check answers how many are still open: the 3 pending.
    expect(await checkRolloutDone(db, rollout.id, DIRECT_WRITER)).toEqual({ completed: false, open: 3 });
    await db.prisma
      .$executeRaw`UPDATE rollout_instance SET state = 'cancelled' WHERE rollout_id = ${rollout.id}::uuid AND state = 'pending'`;
    expect(await checkRolloutDone(db, rollout.id, DIRECT_WRITER)).toEqual({ completed: true, open: 0 });
    expect(await completeRolloutIfDone(db, rollout.id, DIRECT_WRITER)).toBe(false);

    await db.prisma.rolloutInstance.deleteMany({ where: { rolloutId: rollout.id, state: 'failed' } });
    expect(await countInstances(db, rollout.id)).toMatchObject({ total: 10, failed: 0, cancelled: 4 });
    await db.prisma.rollout.delete({ where: { id: rollout.id } });
    expect(await countInstances(db, rollout.id)).toMatchObject({ total: 0 });
  });

  it('are moved exactly once by the batched claims and answers of every kind, and by claims again after a retry', async () => {
    const { rollout, instances } = await newRollout(9);
    const writer = createAttemptWriter(db);
    const expectCountsMatchRows = async () => {
      const { total, ...byState } = await countInstances(db, rollout.id);
      expect(total).toBe(9);
      expect(Object.fromEntries(Object.entries(byState).filter(([, n]) => n > 0))).toEqual(await countRows(rollout.id));
      const seconds = await finishSeconds(rollout.id);
      expect(seconds.kept).toEqual(seconds.fromRows);
    };
    const claimAll = (list: typeof instances) =>
      Promise.all(
        list.map((i) =>
          writer.claim({
            rolloutInstanceId: i.id,
            rolloutId: rollout.id,
            workerId: 'w1',
            signatureNonce: `n-${i.id}-${Math.random()}`,
            staleAfterMs: 60_000,
          }),
        ),
      );
    const claims = await claimAll(instances);
    expect(claims.every((c) => c.kind === 'claimed')).toBe(true);
    await expectCountsMatchRows();
    expect(await countInstances(db, rollout.id)).toMatchObject({ pending: 0, in_progress: 9 });

    const outcomes = ['success', 'final', 'retryable'] as const;
    const answered = await Promise.all(
      claims.map((claim, n) => {
        if (claim.kind !== 'claimed') throw new Error('expected claims');
        const outcome = outcomes[n % 3]!;
        return writer.finish({
          rolloutInstanceId: instances[n]!.id,
          attemptId: claim.attemptId,
          attemptNo: claim.attemptNo,
          maxAttempts: 3,
          answer: answer(outcome),
          nextAttemptAt: outcome === 'retryable' ? new Date() : null,
        });
      }),
    );
    expect(answered.map((r) => (r.kind === 'transitioned' ? r.to : r.kind))).toEqual(
      instances.map((_, n) => ['succeeded', 'failed', 'pending'][n % 3]),
    );
    await expectCountsMatchRows();
    expect(await countInstances(db, rollout.id)).toMatchObject({ pending: 3, in_progress: 0, succeeded: 3, failed: 3 });

    // The retried instances are claimed again (attempt 2) and answered.
    const retried = instances.filter((_, n) => n % 3 === 2);
    const again = await claimAll(retried);
    await Promise.all(
      again.map((claim, n) => {
        if (claim.kind !== 'claimed') throw new Error('expected claims');
        return writer.finish({
          rolloutInstanceId: retried[n]!.id,
          attemptId: claim.attemptId,
          attemptNo: claim.attemptNo,
          maxAttempts: 3,
          answer: answer('success'),
          nextAttemptAt: null,
        });
      }),
    );
    await expectCountsMatchRows();
    expect(await countInstances(db, rollout.id)).toMatchObject({ pending: 0, in_progress: 0, succeeded: 6, failed: 3 });
  });
});
