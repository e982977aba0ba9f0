/**
 * Taking over the attempt of a worker that died after claiming it. The dead worker is played by hand: its claim is
 * written to Postgres (with the nonce and timestamp it signs with), then its request is sent, or not, and its answer
 * never recorded. A real worker pool then takes the job over and replays the exact request.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createCmsClient } from '@fleet/cms-client';
import { claimAttempt } from '@fleet/db';
import type { WorkerHarness } from './support.ts';
import { ACCESS_KEY_ID, ACCESS_KEY_SECRET, USER_ID, rolloutFacts, startHarness } from './support.ts';

let h: WorkerHarness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const CALL_TIMEOUT_MS = 2000;

/**
 * The dead worker: claims the instance's attempt as a worker does (10 s ago, so it is stale for the pool, whose
 * staleness is its call timeout plus 5 s), and if `sent`, sends its exact request and drops the answer.
 */
async function dieAfterClaim(
  harness: WorkerHarness,
  rolloutId: string,
  instanceId: string,
  options: { sent: boolean; force: boolean },
): Promise<void> {
  const instance = await harness.db.prisma.rolloutInstance.findUniqueOrThrow({
    where: { rolloutId_instanceId: { rolloutId, instanceId } },
  });
  const claimedAt = new Date(Math.floor(Date.now() / 1000) * 1000 - 10_000);
  const claim = await claimAttempt(harness.db, {
    rolloutInstanceId: instance.id,
    rolloutId,
    workerId: 'dead-worker',
    signatureNonce: crypto.randomUUID(),
    staleAfterMs: CALL_TIMEOUT_MS + 5000,
    now: claimedAt,
  });
  if (claim.kind !== 'claimed' || !claim.signing) throw new Error(`expected a signed claim, got ${claim.kind}`);
  if (!options.sent) return;
  const client = createCmsClient({
    endpoint: harness.simUrl,
    credentials: { accessKeyId: ACCESS_KEY_ID, accessKeySecret: ACCESS_KEY_SECRET },
  });
  const lost = await client.nodeInstall({
    userId: USER_ID,
    instanceId,
    force: options.force,
    exactSigning: claim.signing,
  });
  expect({ kind: lost.outcome.kind, code: lost.errorCode, message: lost.errorMessage }).toMatchObject({
    kind: 'success',
  });
  await client.close();
}

describe('a worker taking over the attempt of a dead worker', () => {
  it("replays the exact request: a call that never arrived becomes that attempt's one call; one that did is never made twice", async () => {
    h = await startHarness({ latencyMs: 1, installDurationMs: 50 });
    const forced = await h.createRollout(['i-neversent', 'i-sentforced'], { force: true });
    const unforced = await h.createRollout(['i-sentunforced'], { force: false });
    await dieAfterClaim(h, forced, 'i-neversent', { sent: false, force: true });
    await dieAfterClaim(h, forced, 'i-sentforced', { sent: true, force: true });
    await dieAfterClaim(h, unforced, 'i-sentunforced', { sent: true, force: false });
    const callsBefore = h.sim.stats().callsByInstance;
    expect(callsBefore).toEqual({ 'i-sentforced': 1, 'i-sentunforced': 1 });

    await h.startPool({ callTimeoutMs: CALL_TIMEOUT_MS });
    await h.waitForRolloutStatus(forced, 'completed', 30_000);
    await h.waitForRolloutStatus(unforced, 'completed', 30_000);
    const stats = h.sim.stats();
    const facts = new Map(
      [...(await rolloutFacts(h.db, forced)), ...(await rolloutFacts(h.db, unforced))].map((i) => [i.instanceId, i]),
    );
    const attempts = (id: string) =>
      facts.get(id)!.attempts.map((a) => ({
        no: a.attemptNo,
        outcome: a.outcome,
        kind: a.outcomeKind,
        by: a.workerId,
        replayedBy: a.replayedBy,
      }));

    // Never sent: the replay is the attempt's one call, answered and recorded on attempt 1.
    expect(attempts('i-neversent')).toEqual([
      { no: 1, outcome: 'success', kind: 'success', by: 'dead-worker', replayedBy: 'test-0' },
    ]);
    expect(facts.get('i-neversent')!.attempts[0]!.requestId).toBe(h.sim.instance('i-neversent').requestIds[0]);
    expect(stats.callsByInstance['i-neversent']).toBe(1);

    // Sent with Force=true: the replay is refused (SignatureNonceUsed), NodeStatus shows the agent up, so the lost
    // call is recorded as the success it was; no second NodeInstall, so no reinstall.
    expect(attempts('i-sentforced')).toEqual([
      { no: 1, outcome: 'success', kind: 'success_inferred', by: 'dead-worker', replayedBy: 'test-0' },
    ]);
    expect(facts.get('i-sentforced')!.attempts[0]!.errorMessage).toMatch(
      /SignatureNonceUsed.*NodeStatus showed the agent (running|installing)/,
    );
    expect(stats.callsByInstance['i-sentforced']).toBe(1);
    expect(stats.installsByInstance['i-sentforced']).toBe(1);

    // Sent with Force=false: the lost answer is recorded as such and attempt 2 asks again (a no-op for a running
    // or installing agent, so still one install).
    expect(attempts('i-sentunforced')).toEqual([
      { no: 1, outcome: 'abandoned', kind: 'answer_lost', by: 'dead-worker', replayedBy: 'test-0' },
      { no: 2, outcome: 'success', kind: 'success', by: 'test-0', replayedBy: null },
    ]);
    expect(stats.callsByInstance['i-sentunforced']).toBe(2);
    expect(stats.installsByInstance['i-sentunforced']).toBe(1);

    // Rows equal calls for every instance, and every instance is final once.
    for (const [id, instance] of facts) {
      expect(instance.state).toBe('succeeded');
      expect(instance.attempts).toHaveLength(stats.callsByInstance[id] ?? 0);
    }
    // The replays were refused at the gateway: counted as rejected, never as calls.
    expect(stats.byCode['SignatureNonceUsed']).toBe(2);
  });
});
