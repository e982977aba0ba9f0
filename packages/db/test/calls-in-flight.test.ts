/**
 * listCallsInFlight: what the global cap's slots are rebuilt from after Redis lost them. Exactly the calls that may
 * still be running: claimed, unfinished, younger than the stale bound, of a rollout not final.
 */
import { describe, expect, it } from 'vitest';
import { claimAttempt, finishAttempt, listCallsInFlight } from '../src/index.ts';
import type { Database } from '../src/index.ts';
import { answer, newInstance } from './attempt-fixtures.ts';
import { useTestDatabase } from './support.ts';

let db: Database;
useTestDatabase({ poolMax: 5 }, (opened) => (db = opened));

const STALE_AFTER_MS = 15_000;

async function claimed(instanceId: string, startedMsAgo = 0) {
  const { rolloutId, rolloutInstanceId } = await newInstance(db, instanceId);
  const claim = await claimAttempt(db, {
    rolloutInstanceId,
    rolloutId,
    workerId: 'w1',
    staleAfterMs: STALE_AFTER_MS,
    now: new Date(Date.now() - startedMsAgo),
  });
  if (claim.kind !== 'claimed') throw new Error(`expected a claim, got ${claim.kind}`);
  return { rolloutId, rolloutInstanceId, attemptId: claim.attemptId };
}

describe('listCallsInFlight', () => {
  it('lists the unfinished, not yet stale attempts of rollouts not final, with their age', async () => {
    const running = await claimed('i-running', 2_000);
    const finished = await claimed('i-finished');
    await finishAttempt(db, {
      rolloutInstanceId: finished.rolloutInstanceId,
      attemptId: finished.attemptId,
      attemptNo: 1,
      maxAttempts: 3,
      answer: answer('success'),
      nextAttemptAt: null,
    });
    // Older than the stale bound: its worker is presumed dead, the reconciler takes it over.
    await claimed('i-stale', STALE_AFTER_MS + 5_000);
    const ofCancelled = await claimed('i-cancelled');
    await db.prisma.rollout.update({ where: { id: ofCancelled.rolloutId }, data: { status: 'cancelled' } });

    const calls = await listCallsInFlight(db, STALE_AFTER_MS);
    expect(calls.map((c) => [c.attemptId, c.rolloutId])).toEqual([[running.attemptId, running.rolloutId]]);
    expect(calls[0]!.ageMs).toBeGreaterThanOrEqual(1_900);
    expect(calls[0]!.ageMs).toBeLessThan(STALE_AFTER_MS);
  });
});
