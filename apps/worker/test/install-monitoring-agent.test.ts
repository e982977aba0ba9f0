/**
 * The install-monitoring-agent driver: up to 10 instances of a rollout in one InstallMonitoringAgent call, against
 * the simulator over HTTP. Grouping, the limits (the rollout's concurrency in instances, the account's rate in calls),
 * a call's failure classifying every instance of it, and the exact replay of a dead worker's call.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createCmsClient } from '@fleet/cms-client';
import { claimInstallCall } from '@fleet/db';
import { DEFAULT_RETRY_POLICY, manualInstallReasonFor } from '@fleet/rollout-domain';
import { instanceIds, waitFor } from '@fleet/testing';
import type { WorkerHarness } from './support.ts';
import { ACCESS_KEY_ID, ACCESS_KEY_SECRET, rolloutFacts, startHarness } from './support.ts';

let h: WorkerHarness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const DRIVER = { driver: 'install-monitoring-agent' } as const;
const CALL_TIMEOUT_MS = 2000;

type Facts = Awaited<ReturnType<typeof rolloutFacts>>;

/** Attempt rows grouped by their call: every row of a call has its call id, nonce, timestamp and answer. */
function callsOf(facts: Facts) {
  const calls = new Map<string, Facts[number]['attempts']>();
  for (const attempt of facts.flatMap((i) => i.attempts)) {
    expect(attempt.callId).not.toBeNull();
    calls.set(attempt.callId!, [...(calls.get(attempt.callId!) ?? []), attempt]);
  }
  for (const rows of calls.values()) {
    expect(rows.length).toBeGreaterThanOrEqual(1);
    expect(rows.length).toBeLessThanOrEqual(10);
    for (const field of ['signatureNonce', 'signedAt', 'requestId', 'outcomeKind', 'errorCode'] as const)
      expect(new Set(rows.map((r) => String(r[field]))).size, field).toBe(1);
  }
  return calls;
}

/** Every instance: as many attempt rows as calls the simulator received naming it. */
function expectRowsEqualCalls(harness: WorkerHarness, facts: Facts): void {
  const byInstance = harness.sim.stats().monitoringAgent.callsByInstance;
  for (const instance of facts) {
    expect(instance.attempts.length, instance.instanceId).toBe(byInstance[instance.instanceId] ?? 0);
    expect(instance.attempts).toHaveLength(instance.attemptCount);
  }
}

describe('install-monitoring-agent driver', () => {
  it('groups 25 instances into 3 calls of at most 10, each instance one attempt row carrying its call', async () => {
    h = await startHarness({ latencyMs: 20 });
    const rolloutId = await h.createRollout(instanceIds(25, 'i-grp'), { concurrency: 50, policy: DRIVER });
    await h.startPool();
    await h.waitForRolloutStatus(rolloutId, 'completed', 30_000);

    const facts = await rolloutFacts(h.db, rolloutId);
    expect(facts.every((i) => i.state === 'succeeded')).toBe(true);
    const calls = callsOf(facts);
    expect(calls.size).toBe(3);
    expect([...calls.values()].map((rows) => rows.length).sort((a, b) => a - b)).toEqual([5, 10, 10]);
    const stats = h.sim.stats();
    expect(stats.monitoringAgent.requests).toBe(3);
    expect(stats.byAction['NodeInstall'] ?? 0).toBe(0);
    expectRowsEqualCalls(h, facts);
    // The answer on each row is the call's, as the simulator gave it.
    for (const instance of facts)
      expect(h.sim.instance(instance.instanceId).requestIds).toContain(instance.attempts[0]!.requestId);
  });

  it('keeps instances in flight within the rollout concurrency across two pools, calls within the account rate', async () => {
    // Calls of 400 ms at 6 a second (one each 167 ms): two or three would be in flight at once but for the concurrency.
    // (At 150 ms, calls sent on their starts never overlap: only a call sent late for its start made them.)
    h = await startHarness({ latencyMs: 400 });
    const rolloutId = await h.createRollout(instanceIds(120, 'i-lim'), { concurrency: 15, policy: DRIVER });
    await Promise.all([
      h.startPool({ accountRateLimitRps: 6, accountRateBurst: 1 }),
      h.startPool({ accountRateLimitRps: 6, accountRateBurst: 1 }),
    ]);
    await h.waitForRolloutStatus(rolloutId, 'completed', 60_000);

    const agent = h.sim.stats().monitoringAgent;
    expect(agent.maxInstancesInFlight).toBeLessThanOrEqual(15);
    // Batches of up to 10 within a concurrency of 15: more than one call's instances were in flight at once.
    expect(agent.maxInstancesInFlight).toBeGreaterThan(10);
    // The account's rate counts calls: never more than rate + burst in any second the simulator saw.
    expect(agent.maxPerSecond).toBeLessThanOrEqual(7);
    const facts = await rolloutFacts(h.db, rolloutId);
    expect(facts.every((i) => i.state === 'succeeded')).toBe(true);
    expect(agent.requests).toBe(callsOf(facts).size);
    expectRowsEqualCalls(h, facts);
  });

  it('retries every instance of a call that failed transiently (503), each on its own attempt row', async () => {
    h = await startHarness({ latencyMs: 5, errorRate503: 1 });
    const rolloutId = await h.createRollout(instanceIds(10, 'i-tra'), {
      concurrency: 10,
      policy: DRIVER,
      retry: { maxAttempts: 6 },
    });
    await h.startPool();
    await waitFor('a failed call recorded', async () => {
      const failed = await h!.db.prisma.installAttempt.count({ where: { rolloutId, outcome: 'retryable' } });
      return failed >= 10;
    });
    h.sim.setScenario({ errorRate503: 0 });
    await h.waitForRolloutStatus(rolloutId, 'completed', 30_000);

    const facts = await rolloutFacts(h.db, rolloutId);
    const calls = callsOf(facts);
    const firstCall = calls.get(facts[0]!.attempts[0]!.callId!)!;
    // The first call named all ten; its 503 made each of them retryable, and each succeeded on a later call.
    expect(firstCall).toHaveLength(10);
    expect(firstCall.every((a) => a.outcome === 'retryable' && a.errorCode === 'ServiceUnavailable')).toBe(true);
    for (const instance of facts) {
      expect(instance.state).toBe('succeeded');
      expect(instance.attempts.length).toBeGreaterThanOrEqual(2);
      expect(instance.attempts.slice(0, -1).every((a) => a.outcome === 'retryable')).toBe(true);
      expect(instance.attempts.at(-1)!.outcome).toBe('success');
    }
    expectRowsEqualCalls(h, facts);
  });

  it('fails every instance of a call answered with a permanent error, flagged as the NodeInstall path flags it', async () => {
    h = await startHarness({ latencyMs: 5, notFoundRate: 1 });
    const rolloutId = await h.createRollout(instanceIds(12, 'i-prm'), { concurrency: 20, policy: DRIVER });
    await h.startPool();
    await h.waitForRolloutStatus(rolloutId, 'completed', 30_000);

    const facts = await rolloutFacts(h.db, rolloutId);
    expect(callsOf(facts).size).toBe(2);
    const [first] = facts[0]!.attempts;
    const reason = manualInstallReasonFor({
      outcomeKind: 'final',
      errorCode: first!.errorCode,
      errorMessage: first!.errorMessage,
      httpStatus: first!.httpStatus,
      retriesExhausted: false,
    });
    for (const instance of facts) {
      expect(instance.state).toBe('failed');
      expect(instance.attempts).toHaveLength(1);
      expect(instance.attempts[0]).toMatchObject({ outcome: 'final', errorCode: 'ResourceNotFound', httpStatus: 404 });
      expect({ needs: instance.needsManualInstall, reason: instance.manualInstallReason }).toEqual({
        needs: reason !== null,
        reason,
      });
    }
    expectRowsEqualCalls(h, facts);
  });

  it.each([
    ['never sent', false],
    ['sent, its answer lost', true],
  ])(
    "replays a dead worker's call exactly (%s): the same instances and nonce, no second set of attempt rows",
    async (_, sent) => {
      h = await startHarness({ latencyMs: 1, installDurationMs: 50 });
      const ids = instanceIds(4, sent ? 'i-rps' : 'i-rpn');
      const rolloutId = await h.createRollout(ids, { concurrency: 10, policy: DRIVER, force: true });
      const leader = await h.db.prisma.rolloutInstance.findFirstOrThrow({
        where: { rolloutId },
        orderBy: { id: 'asc' },
      });
      // The dead worker: claimed a call of all four 10 s ago (stale for the pool: its call timeout plus 5 s).
      const claimedAt = new Date(Math.floor(Date.now() / 1000) * 1000 - 10_000);
      const claim = await claimInstallCall(h.db, {
        rolloutInstanceId: leader.id,
        rolloutId,
        workerId: 'dead-worker',
        callId: crypto.randomUUID(),
        signatureNonce: crypto.randomUUID(),
        credentialsId: null,
        maxInstances: 10,
        staleAfterMs: CALL_TIMEOUT_MS + 5000,
        instanceTimeoutMs: null,
        skipInstalled: false,
        now: claimedAt,
        windowNow: claimedAt,
      });
      if (claim.kind !== 'claimed') throw new Error(`expected a claim, got ${claim.kind}`);
      expect(claim.members).toHaveLength(4);
      const sentIds = claim.members.map((m) => m.instanceId).sort();
      if (sent) {
        const client = createCmsClient({
          endpoint: h.simUrl,
          credentials: { accessKeyId: ACCESS_KEY_ID, accessKeySecret: ACCESS_KEY_SECRET },
        });
        const lost = await client.installMonitoringAgent({
          instanceIds: sentIds,
          force: true,
          exactSigning: claim.signing,
        });
        expect(lost.outcome.kind).toBe('success');
        await client.close();
      }

      await h.startPool({ callTimeoutMs: CALL_TIMEOUT_MS });
      await h.waitForRolloutStatus(rolloutId, 'completed', 30_000);
      const stats = h.sim.stats();
      const facts = await rolloutFacts(h.db, rolloutId);
      // One call reached the action either way: the dead worker's, or the replay standing for it.
      expect(stats.monitoringAgent.requests).toBe(1);
      // The replay was the same request: refused by its nonce when the first copy had arrived.
      expect(stats.byCode['SignatureNonceUsed'] ?? 0).toBe(sent ? 1 : 0);
      for (const instance of facts) {
        expect(instance.state).toBe('succeeded');
        expect(instance.attempts).toHaveLength(1);
        expect(instance.attempts[0]).toMatchObject({
          callId: claim.callId,
          signatureNonce: claim.signing.nonce,
          workerId: 'dead-worker',
          replayedBy: 'test-0',
          outcome: 'success',
          outcomeKind: sent ? 'success_inferred' : 'success',
        });
        expect(stats.installsByInstance[instance.instanceId]).toBe(1);
      }
      expectRowsEqualCalls(h, facts);
    },
  );

  it('leaves the NodeInstall driver one instance per call', async () => {
    h = await startHarness({ latencyMs: 5 });
    const rolloutId = await h.createRollout(instanceIds(5, 'i-nod'), {
      concurrency: 5,
      retry: DEFAULT_RETRY_POLICY,
    });
    await h.startPool();
    await h.waitForRolloutStatus(rolloutId, 'completed', 30_000);
    const stats = h.sim.stats();
    expect(stats.requests).toBe(5);
    expect(stats.monitoringAgent.requests).toBe(0);
    expect((await rolloutFacts(h.db, rolloutId)).flatMap((i) => i.attempts).every((a) => a.callId === null)).toBe(true);
  });
});
