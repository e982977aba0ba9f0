/**
 * A small rollout against the simulator's realistic profile (no-agent instances, 5xx, hangs, malformed bodies and
 * 50 QPS per account, all at once and at their documented rates), with the worker's own default account rate: the
 * worker retries what is transient, and the instances that cannot be installed remotely end up flagged for a manual
 * install. The simulator's deterministic default never shows either of the first two.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { isFailingInstance, isUnknownInstance, SCENARIO_PROFILES } from '@fleet/cms-simulator';
import type { WorkerHarness } from './support.ts';
import { rolloutFacts, startHarness } from './support.ts';
import { instanceIds } from '@fleet/testing';

let h: WorkerHarness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const MAX_ATTEMPTS = 4;
const TRANSIENT_CODES = ['InternalError', 'ServiceUnavailable', 'Timeout', 'MalformedResponse', 'Throttling.User'];

describe('a rollout against SIM_PROFILE=realistic', () => {
  it('retries the transient faults (attempts > instances) and leaves the no-agent and unknown instances for a manual install', async () => {
    const seed = 'realistic-rollout';
    const { failureRate, notFoundRate } = SCENARIO_PROFILES.realistic;
    h = await startHarness({ profile: 'realistic', seed });
    const ids = instanceIds(200, 'i-real');
    const rolloutId = await h.createRollout(ids, {
      concurrency: 20,
      retry: { maxAttempts: MAX_ATTEMPTS, baseDelayMs: 20, maxDelayMs: 200 },
    });
    // The worker's defaults for the account: 50 calls a second, burst 1 (apps/worker/src/config.ts). The call
    // timeout is above the profile's slowest answer (75 ms + the 1000 ms tail), so only a hang times out.
    await h.startPool({ accountRateLimitRps: 50, accountRateBurst: 1, callTimeoutMs: 2500 });
    await h.waitForRolloutStatus(rolloutId, 'completed', 120_000);

    const facts = await rolloutFacts(h.db, rolloutId);
    const attempts = facts.reduce((sum, instance) => sum + instance.attemptCount, 0);
    expect(attempts).toBeGreaterThan(ids.length);

    const retried = facts.filter((instance) => instance.attemptCount > 1);
    expect(retried.filter((instance) => instance.state === 'succeeded').length).toBeGreaterThan(0);
    const retryableAttempts = facts.flatMap((instance) => instance.attempts).filter((a) => a.outcome === 'retryable');
    expect(retryableAttempts.length).toBeGreaterThan(0);
    for (const attempt of retryableAttempts) expect(TRANSIENT_CODES).toContain(attempt.errorCode);

    const noAgent = ids.filter((id) => isFailingInstance(seed, id, failureRate));
    const unknown = ids.filter((id) => isUnknownInstance(seed, id, notFoundRate));
    expect(noAgent.length).toBeGreaterThan(0);
    const manual = facts.filter((instance) => instance.needsManualInstall);
    expect(manual.length).toBeGreaterThanOrEqual(noAgent.length);
    for (const instance of facts) {
      expect(['succeeded', 'failed']).toContain(instance.state);
      expect(instance.attemptCount).toBeLessThanOrEqual(MAX_ATTEMPTS);
      expect(instance.attempts).toHaveLength(instance.attemptCount);
      const gaveUp = instance.manualInstallReason === 'retries_exhausted';
      if (unknown.includes(instance.instanceId)) {
        expect(instance.state).toBe('failed');
        if (!gaveUp) expect(instance.manualInstallReason).toBe('instance_not_found');
      } else if (noAgent.includes(instance.instanceId)) {
        expect(instance).toMatchObject({ state: 'failed', needsManualInstall: true });
        if (!gaveUp) expect(instance.manualInstallReason).toBe('no_server_guard_agent');
      } else if (instance.state === 'failed') {
        // Anything else that failed only ran out of attempts on transient faults.
        expect(instance.manualInstallReason).toBe('retries_exhausted');
      }
    }
  });
});
