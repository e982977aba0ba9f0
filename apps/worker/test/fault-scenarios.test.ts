/**
 * A rollout against each fault the simulator can inject: every instance ends in the right final state, every
 * attempt is recorded with its outcome class, retries stay within the configured cap, and nothing crashes.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Scenario } from '@fleet/cms-simulator';
import { isFailingInstance, isUnknownInstance } from '@fleet/cms-simulator';
import type { WorkerHarness } from './support.ts';
import { rolloutFacts, startHarness } from './support.ts';
import { instanceIds } from '@fleet/testing';

let h: WorkerHarness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const MAX_ATTEMPTS = 4;
type Case = {
  name: string;
  faults: Partial<Scenario>;
  callTimeoutMs?: number;
  expectSomeRetries: boolean;
  method?: 'GET' | 'POST';
  retryCode?: RegExp;
  retryKind?: string;
};
const cases: Case[] = [
  {
    name: 'HTTP 500 InternalError on 40% of calls',
    faults: { errorRate500: 0.4 },
    expectSomeRetries: true,
    retryCode: /^InternalError$/,
    retryKind: 'retryable',
  },
  {
    name: 'HTTP 503 ServiceUnavailable on 40% of calls',
    faults: { errorRate503: 0.4 },
    expectSomeRetries: true,
    retryCode: /^ServiceUnavailable$/,
    retryKind: 'retryable',
  },
  {
    name: 'calls hanging past the client timeout on 30% of calls',
    faults: { hangRate: 0.3 },
    callTimeoutMs: 250,
    expectSomeRetries: true,
    retryCode: /^Timeout$/,
    retryKind: 'retryable',
  },
  {
    name: 'malformed bodies (truncated, HTML pages) on 40% of calls',
    faults: { malformedRate: 0.4 },
    expectSomeRetries: true,
    retryCode: /^MalformedResponse$/,
    retryKind: 'retryable',
  },
  {
    name: 'account throttling above 40 QPS',
    faults: { throttleQps: 40 },
    expectSomeRetries: true,
    retryCode: /^Throttling/,
    retryKind: 'throttled',
  },
  { name: 'a slow tail of latency', faults: { latencyMs: 5, latencyTailMs: 200 }, expectSomeRetries: false },
  {
    name: 'instances without the Server Guard agent (20%) and unknown instances (20%)',
    faults: { failureRate: 0.2, notFoundRate: 0.2 },
    expectSomeRetries: false,
  },
  {
    name: 'everything at once, signed as GET',
    faults: {
      errorRate500: 0.1,
      errorRate503: 0.1,
      hangRate: 0.05,
      malformedRate: 0.1,
      failureRate: 0.1,
      notFoundRate: 0.1,
    },
    callTimeoutMs: 250,
    expectSomeRetries: true,
    method: 'GET',
  },
];

describe.each(cases)(
  'a rollout against $name',
  ({ faults, callTimeoutMs, expectSomeRetries, method, retryCode, retryKind }) => {
    it('ends with every instance final, every attempt recorded and classified, retries within the cap', async () => {
      const seed = 'faults';
      h = await startHarness({ latencyMs: 5, failureRate: 0, seed, ...faults });
      const ids = instanceIds(60, 'i-f');
      const rolloutId = await h.createRollout(ids, {
        concurrency: 10,
        retry: { maxAttempts: MAX_ATTEMPTS, baseDelayMs: 10, maxDelayMs: 40 },
      });
      await h.startPool({ ...(callTimeoutMs ? { callTimeoutMs } : {}), ...(method ? { method } : {}) });
      await h.waitForRolloutStatus(rolloutId, 'completed', 90_000);

      const facts = await rolloutFacts(h.db, rolloutId);
      const calls = h.sim.stats().callsByInstance;
      let retried = 0;
      for (const instance of facts) {
        expect(['succeeded', 'failed']).toContain(instance.state);
        expect(instance.attempts.length).toBe(instance.attemptCount);
        expect(instance.attemptCount).toBeGreaterThanOrEqual(1);
        expect(instance.attemptCount).toBeLessThanOrEqual(MAX_ATTEMPTS);
        if (instance.attemptCount > 1) retried++;
        for (const attempt of instance.attempts) {
          expect(['success', 'retryable', 'final']).toContain(attempt.outcome);
          if (attempt.outcome === 'retryable' && retryCode) expect(attempt.errorCode).toMatch(retryCode);
          if (attempt.outcome === 'retryable' && retryKind) expect(attempt.outcomeKind).toBe(retryKind);
          expect(attempt.finishedAt).not.toBeNull();
          expect(attempt.durationMs).not.toBeNull();
        }
        // every attempt before the last was a transient failure; the last decides the state
        expect(instance.attempts.slice(0, -1).every((a) => a.outcome === 'retryable')).toBe(true);
        const last = instance.attempts.at(-1)!;
        if (instance.state === 'succeeded') expect(last.outcome).toBe('success');
        else {
          expect(last.outcome === 'final' || instance.attemptCount === MAX_ATTEMPTS).toBe(true);
          expect(instance.needsManualInstall).toBe(true);
        }
        // permanent failures are never retried (unless transient faults used up every attempt before one got through)
        const reachedTheInstance = last.outcome !== 'retryable';
        if (isUnknownInstance(seed, instance.instanceId, faults.notFoundRate ?? 0)) {
          expect(instance.state).toBe('failed');
          if (reachedTheInstance) {
            expect(instance.attempts.filter((a) => a.outcome === 'final')).toHaveLength(1);
            expect(instance.manualInstallReason).toBe('instance_not_found');
          } else expect(instance.manualInstallReason).toBe('retries_exhausted');
        } else if (isFailingInstance(seed, instance.instanceId, faults.failureRate ?? 0)) {
          expect(instance.state).toBe('failed');
          expect(instance.manualInstallReason).toBe(reachedTheInstance ? 'no_server_guard_agent' : 'retries_exhausted');
        }
        // a call the simulator answered is a recorded attempt (hangs never reach the simulator's action counter)
        if (!faults.hangRate) expect(calls[instance.instanceId] ?? 0).toBeLessThanOrEqual(instance.attemptCount);
      }
      if (expectSomeRetries) expect(retried).toBeGreaterThan(0);
      else expect(retried).toBe(0);
    });
  },
);
