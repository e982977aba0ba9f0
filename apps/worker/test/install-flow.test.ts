import { afterEach, describe, expect, it } from 'vitest';
import { isFailingInstance } from '@fleet/cms-simulator';
import { createGlobalConcurrency } from '@fleet/limits';
import { enqueueInstallJobs, openInstallQueue } from '@fleet/queue';
import type { WorkerHarness } from './support.ts';
import { ACCESS_KEY_SECRET, rolloutFacts, startHarness } from './support.ts';
import { instanceIds, waitFor } from '@fleet/testing';

let h: WorkerHarness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

describe('install jobs against the simulator', () => {
  it('completes 1,000 instances at concurrency 20 with 5% failing: failures are exactly the failing instances, limit held', async () => {
    h = await startHarness({ latencyMs: 10, failureRate: 0.05, seed: 'flow-1' });
    const ids = instanceIds(1000, 'i-w');
    const rolloutId = await h.createRollout(ids, { concurrency: 20 });
    await h.startPool({ maxConcurrencyPerRollout: 100 });
    await h.waitForRolloutStatus(rolloutId, 'completed');

    const facts = await rolloutFacts(h.db, rolloutId);
    const expectedFailed = ids.filter((id) => isFailingInstance('flow-1', id, 0.05)).sort();
    expect(expectedFailed.length).toBeGreaterThan(20);
    expect(facts.filter((i) => i.state === 'failed').map((i) => i.instanceId)).toEqual(expectedFailed);
    expect(facts.filter((i) => i.state === 'succeeded')).toHaveLength(1000 - expectedFailed.length);
    for (const instance of facts) {
      expect(instance.attempts.length).toBe(1);
      expect(instance.attempts[0]!.requestId).toMatch(/^[0-9A-F-]{36}$/i);
      expect(instance.attempts[0]!.finishedAt).not.toBeNull();
    }
    const failed = facts.find((i) => i.state === 'failed')!;
    expect(failed).toMatchObject({
      needsManualInstall: true,
      manualInstallReason: 'no_server_guard_agent',
      lastErrorCode: '400',
    });
    expect(failed.attempts[0]).toMatchObject({ outcome: 'final', success: false, httpStatus: 200 });

    const stats = h.sim.stats();
    expect(stats.requests).toBe(1000);
    expect(stats.maxInFlight).toBeLessThanOrEqual(20);
    expect(stats.maxInFlight).toBeGreaterThan(1);
    expect(JSON.stringify(h.logLines)).not.toContain(ACCESS_KEY_SECRET);
    // Every global slot went back (slots of the last calls leave by themselves within a few ms: CallAdmission.release).
    const slots = createGlobalConcurrency(h.redis, { prefix: h.prefix, cap: 20, leaseMs: 30_000 });
    await waitFor('no global slot held', async () => (await slots.inFlight()) === 0, {
      timeoutMs: 2_000,
      intervalMs: 20,
    });
  });

  it('starts on a rollout as soon as it is enqueued, not at the next poll, when it listens for announcements', async () => {
    h = await startHarness({ latencyMs: 5, seed: 'announce' });
    // Polls an hour apart: only the announcement can make these pools look for the new rollout.
    const listening = await h.startPool({ pollMs: 3_600_000 });
    const deaf = await h.startPool({ pollMs: 3_600_000, announcements: false });
    const rolloutId = await h.createRollout(instanceIds(50, 'i-an'), { concurrency: 5 });
    await waitFor('the listening pool on the rollout', () => listening.activeRollouts().includes(rolloutId), {
      timeoutMs: 5_000,
      intervalMs: 20,
    });
    await h.waitForRolloutStatus(rolloutId, 'completed', 20_000);
    expect(deaf.activeRollouts()).toEqual([]);
    expect(h.sim.stats().requests).toBe(50);
  });

  it('holds the rollout limit with two worker pools on separate connections, every instance final exactly once', async () => {
    h = await startHarness({ latencyMs: 15, failureRate: 0.05, seed: 'flow-2' });
    const ids = instanceIds(600, 'i-w');
    const rolloutId = await h.createRollout(ids, { concurrency: 12 });
    await Promise.all([h.startPool({ maxConcurrencyPerRollout: 12 }), h.startPool({ maxConcurrencyPerRollout: 12 })]);
    await h.waitForRolloutStatus(rolloutId, 'completed');
    const facts = await rolloutFacts(h.db, rolloutId);
    expect(facts.every((i) => i.state === 'succeeded' || i.state === 'failed')).toBe(true);
    expect(facts.every((i) => i.attempts.length === 1)).toBe(true);
    const stats = h.sim.stats();
    expect(stats.maxInFlight).toBeLessThanOrEqual(12);
    expect(Object.values(stats.callsByInstance).every((n) => n === 1)).toBe(true);
  });

  it('retries transient 503s with backoff up to maxAttempts, then fails the instance as retries exhausted', async () => {
    h = await startHarness({ latencyMs: 1, errorRate503: 1 });
    const ids = instanceIds(20, 'i-w');
    const rolloutId = await h.createRollout(ids, {
      concurrency: 5,
      retry: { maxAttempts: 3, baseDelayMs: 20, maxDelayMs: 50 },
    });
    await h.startPool();
    await h.waitForRolloutStatus(rolloutId, 'completed');
    const facts = await rolloutFacts(h.db, rolloutId);
    for (const instance of facts) {
      expect(instance).toMatchObject({
        state: 'failed',
        attemptCount: 3,
        needsManualInstall: true,
        manualInstallReason: 'retries_exhausted',
        lastHttpStatus: 503,
      });
      expect(instance.attempts.map((a) => [a.attemptNo, a.outcome, a.errorCode])).toEqual([
        [1, 'retryable', 'ServiceUnavailable'],
        [2, 'retryable', 'ServiceUnavailable'],
        [3, 'retryable', 'ServiceUnavailable'],
      ]);
      expect(instance.attempts.every((a) => a.requestId)).toBe(true);
      // the gap between attempts is at least half the backoff step (equal jitter)
      expect(
        instance.attempts[1]!.startedAt.getTime() - instance.attempts[0]!.finishedAt!.getTime(),
      ).toBeGreaterThanOrEqual(9);
    }
    expect(Object.values(h.sim.stats().callsByInstance)).toEqual(Array(20).fill(3));
  });

  it('succeeds on a later attempt once the transient failures stop', async () => {
    h = await startHarness({ latencyMs: 1, errorRate503: 1 });
    const ids = instanceIds(10, 'i-w');
    const rolloutId = await h.createRollout(ids, {
      concurrency: 10,
      retry: { maxAttempts: 4, baseDelayMs: 300, maxDelayMs: 300 },
    });
    await h.startPool();
    const sim = h.sim;
    await waitFor('a call for each of the 10 instances', () => Object.keys(sim.stats().callsByInstance).length === 10, {
      intervalMs: 20,
    });
    sim.setScenario({ errorRate503: 0 });
    await h.waitForRolloutStatus(rolloutId, 'completed');
    const facts = await rolloutFacts(h.db, rolloutId);
    for (const instance of facts) {
      expect(instance.state).toBe('succeeded');
      expect(instance.attempts.length).toBeGreaterThanOrEqual(2);
      expect(instance.attempts.at(-1)!.outcome).toBe('success');
      expect(instance.attempts.slice(0, -1).every((a) => a.outcome === 'retryable')).toBe(true);
      expect(instance.needsManualInstall).toBe(false);
    }
  });

  it('fails unknown instances (404) at once, without retrying', async () => {
    h = await startHarness({ latencyMs: 1, notFoundRate: 1 });
    const rolloutId = await h.createRollout(instanceIds(5, 'i-w'), { retry: { maxAttempts: 4 } });
    await h.startPool();
    await h.waitForRolloutStatus(rolloutId, 'completed');
    const facts = await rolloutFacts(h.db, rolloutId);
    for (const instance of facts) {
      expect(instance).toMatchObject({
        state: 'failed',
        attemptCount: 1,
        manualInstallReason: 'instance_not_found',
        lastHttpStatus: 404,
      });
      expect(instance.attempts[0]).toMatchObject({
        outcome: 'final',
        httpStatus: 404,
        errorCode: 'InvalidInstanceId.NotFound',
      });
    }
  });

  it('treats calls that hang past the timeout as transient and bounds their retries', async () => {
    h = await startHarness({ latencyMs: 1, hangRate: 1 });
    const rolloutId = await h.createRollout(instanceIds(4, 'i-w'), {
      retry: { maxAttempts: 2, baseDelayMs: 10, maxDelayMs: 20 },
    });
    await h.startPool({ callTimeoutMs: 300 });
    await h.waitForRolloutStatus(rolloutId, 'completed');
    const facts = await rolloutFacts(h.db, rolloutId);
    for (const instance of facts) {
      expect(instance).toMatchObject({ state: 'failed', attemptCount: 2, manualInstallReason: 'retries_exhausted' });
      expect(
        instance.attempts.every((a) => a.outcome === 'retryable' && a.errorCode === 'Timeout' && a.httpStatus === null),
      ).toBe(true);
    }
  });

  it('ignores a second delivery of a finished instance: no second call, no second attempt row', async () => {
    h = await startHarness({ latencyMs: 1 });
    const ids = instanceIds(5, 'i-w');
    const rolloutId = await h.createRollout(ids);
    const pool = await h.startPool();
    await h.waitForRolloutStatus(rolloutId, 'completed');
    // Deliver every job again (BullMQ removed the completed ones, so these are new jobs for the same instances).
    await h.db.prisma.rollout.update({ where: { id: rolloutId }, data: { status: 'running' } });
    const instances = await h.db.prisma.rolloutInstance.findMany({
      where: { rolloutId },
      select: { id: true, instanceId: true },
    });
    const queue = openInstallQueue(h.redis, rolloutId, h.prefix, h.logger);
    await enqueueInstallJobs(queue, { rolloutId, concurrency: 10, instances });
    await pool.refresh();
    await waitFor(
      'no job waiting or active',
      async () =>
        (await queue.getJobCounts('waiting', 'active', 'delayed')).waiting === 0 &&
        (await queue.getActiveCount()) === 0,
      { intervalMs: 20 },
    );
    await queue.close();
    const facts = await rolloutFacts(h.db, rolloutId);
    expect(facts.map((i) => i.attempts.length)).toEqual([1, 1, 1, 1, 1]);
    expect(facts.every((i) => i.state === 'succeeded')).toBe(true);
    expect(h.sim.stats().requests).toBe(5);
  });

  it('on stop(), lets running calls finish and record, takes no new job, and leaves the rest for the next worker', async () => {
    h = await startHarness({ latencyMs: 300 });
    const ids = instanceIds(100, 'i-w');
    const rolloutId = await h.createRollout(ids, { concurrency: 10 });
    const pool = await h.startPool();
    const sim = h.sim;
    await waitFor('5 calls in flight', () => sim.stats().inFlight >= 5, { intervalMs: 20 });
    await pool.stop();
    const callsAtStop = sim.stats().requests;
    expect(sim.stats().inFlight).toBe(0);
    expect(await h.db.prisma.installAttempt.count({ where: { rolloutId, finishedAt: null } })).toBe(0);
    expect(await h.db.prisma.rolloutInstance.count({ where: { rolloutId, state: 'in_progress' } })).toBe(0);
    const done = await h.db.prisma.rolloutInstance.count({ where: { rolloutId, state: 'succeeded' } });
    expect(done).toBe(callsAtStop);
    expect(done).toBeLessThan(100);
    await new Promise((r) => setTimeout(r, 500));
    expect(sim.stats().requests).toBe(callsAtStop);

    await h.startPool();
    await h.waitForRolloutStatus(rolloutId, 'completed');
    const facts = await rolloutFacts(h.db, rolloutId);
    expect(facts.every((i) => i.state === 'succeeded' && i.attempts.length === 1)).toBe(true);
  });
});
