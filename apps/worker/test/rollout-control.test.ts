/**
 * Rollout control against the simulator: waves, wave gates, abort threshold, fleet-wide pause, instance timeout,
 * pause/resume/cancel and live policy changes, each on a real rollout with the attempt rows checked.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { isFailingInstance } from '@fleet/cms-simulator';
import { findRollout, listEvents } from '@fleet/db';
import { cancelRollout, changeRolloutPolicy, pauseRollout, readPolicy, resumeRollout } from '@fleet/rollout-control';
import type { WorkerHarness } from './support.ts';
import { rolloutFacts, startHarness } from './support.ts';
import { instanceIds, waitFor } from '@fleet/testing';

let h: WorkerHarness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const control = (w: WorkerHarness) => ({
  db: w.db,
  redis: w.redis,
  prefix: w.prefix,
  logger: w.logger,
  by: { actor: { kind: 'api_key', id: '00000000-0000-4000-8000-000000000001', name: 'operator' } } as const,
});
/** The rollout's events (the outbox rows), oldest first. */
async function eventsOf(w: WorkerHarness, rolloutId: string) {
  return (await listEvents(w.db, { rolloutId, limit: 1000 })).events;
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Instance ids whose fate in the simulator is known: `failing` of them fail, the rest succeed. */
function idsWithFates(
  seed: string,
  rate: number,
  ok: number,
  failing: number,
  tag: string,
): { ok: string[]; failing: string[] } {
  const result = { ok: [] as string[], failing: [] as string[] };
  for (let i = 0; result.ok.length < ok || result.failing.length < failing; i++) {
    const id = `i-${tag}${i.toString(36)}`;
    if (isFailingInstance(seed, id, rate)) {
      if (result.failing.length < failing) result.failing.push(id);
    } else if (result.ok.length < ok) result.ok.push(id);
  }
  return result;
}

describe('waves', () => {
  it('runs waves in order: no call of wave N+1 starts before every instance of wave N has finished', async () => {
    h = await startHarness({ latencyMs: 10 });
    const ids = instanceIds(40, 'i-wv');
    const rolloutId = await h.createRollout(ids, { concurrency: 10, policy: { waves: { sizes: [2, 8, '50%'] } } });
    await h.startPool();
    await h.waitForRolloutStatus(rolloutId, 'completed');
    const facts = await rolloutFacts(h.db, rolloutId);
    const byWave = new Map<number, typeof facts>();
    for (const f of facts) byWave.set(f.waveNo, [...(byWave.get(f.waveNo) ?? []), f]);
    expect([...byWave.keys()].sort()).toEqual([1, 2, 3, 4]);
    expect([1, 2, 3, 4].map((w) => byWave.get(w)!.length)).toEqual([2, 8, 20, 10]);
    for (let w = 2; w <= 4; w++) {
      const previousEnd = Math.max(...byWave.get(w - 1)!.map((f) => f.attempts.at(-1)!.finishedAt!.getTime()));
      const start = Math.min(...byWave.get(w)!.map((f) => f.attempts[0]!.startedAt.getTime()));
      expect(start).toBeGreaterThanOrEqual(previousEnd);
    }
    expect(facts.every((f) => f.state === 'succeeded' && f.attempts.length === 1)).toBe(true);
    expect((await findRollout(h.db, rolloutId))!.currentWave).toBe(4);
    // One rollout.wave_started per wave (wave 1 with the rollout, later ones by the worker that finished the wave
    // before), one rollout.completed, and nothing per attempt.
    const events = await eventsOf(h, rolloutId);
    const started = events.filter((e) => e.type === 'rollout.wave_started');
    expect(started.map((e) => (e.data as { wave: number }).wave)).toEqual([1, 2, 3, 4]);
    expect(started.slice(1).every((e) => e.actor.kind === 'worker')).toBe(true);
    const completed = events.filter((e) => e.type === 'rollout.completed');
    expect(completed).toHaveLength(1);
    expect(completed[0]).toMatchObject({ actor: { kind: 'worker' }, data: { counts: { succeeded: 40 } } });
    expect(events).toHaveLength(1 + 4 + 1);
  });

  it('pauses at a wave whose success rate is below the threshold, starts nothing of the next wave, and resumes on request', async () => {
    const seed = 'gate';
    h = await startHarness({ latencyMs: 5, failureRate: 0.3, seed });
    const canary = idsWithFates(seed, 0.3, 3, 2, 'c');
    const rest = idsWithFates(seed, 0.3, 20, 0, 'r');
    const ids = [...canary.ok, ...canary.failing, ...rest.ok];
    const rolloutId = await h.createRollout(ids, {
      concurrency: 5,
      policy: { waves: { sizes: [5, 10] }, waveSuccessThresholdPercent: 90 },
    });
    await h.startPool();
    await h.waitForRolloutStatus(rolloutId, 'paused');
    const paused = (await findRollout(h.db, rolloutId))!;
    expect(paused.statusReason).toBe('wave 1 success rate 60.0% is below the 90% threshold');
    expect(paused.currentWave).toBe(1);
    await sleep(500);
    const before = await rolloutFacts(h.db, rolloutId);
    expect(before.filter((f) => f.waveNo > 1).every((f) => f.state === 'pending' && f.attempts.length === 0)).toBe(
      true,
    );
    expect(h.sim.stats().requests).toBe(5);

    const gatePauses = (await eventsOf(h, rolloutId)).filter((e) => e.type === 'rollout.paused');
    expect(gatePauses).toHaveLength(1);
    expect(gatePauses[0]).toMatchObject({
      actor: { kind: 'worker' },
      data: {
        cause: { kind: 'wave_gate', wave: 1, succeeded: 3, failed: 2, thresholdPercent: 90 },
        reason: 'wave 1 success rate 60.0% is below the 90% threshold',
      },
    });

    const resumed = await resumeRollout(control(h), rolloutId);
    expect(resumed.kind).toBe('changed');
    await h.waitForRolloutStatus(rolloutId, 'completed');
    // Waves of 5, 10 and the remaining 10: the resume (an operator's) starts wave 2, a worker wave 3.
    const timeline = (await eventsOf(h, rolloutId)).map((e) =>
      e.type === 'rollout.wave_started' ? `${e.type} ${(e.data as { wave: number }).wave} ${e.actor.kind}` : e.type,
    );
    expect(timeline).toEqual([
      'rollout.created',
      'rollout.wave_started 1 system',
      'rollout.paused',
      'rollout.resumed',
      'rollout.wave_started 2 api_key',
      'rollout.wave_started 3 worker',
      'rollout.completed',
    ]);
    const after = await rolloutFacts(h.db, rolloutId);
    expect(after.filter((f) => f.state === 'succeeded')).toHaveLength(23);
    expect(
      after
        .filter((f) => f.state === 'failed')
        .map((f) => f.instanceId)
        .sort(),
    ).toEqual([...canary.failing].sort());
  });
});

describe('abort threshold', () => {
  it('cancels the remaining work once failures cross the threshold: nothing new starts, untouched instances are cancelled', async () => {
    const seed = 'abort';
    h = await startHarness({ latencyMs: 20, failureRate: 0.5, seed });
    const ids = instanceIds(200, 'i-ab');
    const rolloutId = await h.createRollout(ids, {
      concurrency: 4,
      policy: { abort: { failureThresholdPercent: 30, minFinished: 10 } },
    });
    await h.startPool();
    await h.waitForRolloutStatus(rolloutId, 'cancelled');
    const rollout = (await findRollout(h.db, rolloutId))!;
    expect(rollout.statusReason).toMatch(/^aborted: \d+ of \d+ finished instances failed/);
    const events = await eventsOf(h, rolloutId);
    const aborted = events.filter((e) => e.type === 'rollout.aborted');
    expect(aborted).toHaveLength(1);
    expect(aborted[0]).toMatchObject({ actor: { kind: 'worker' }, data: { reason: rollout.statusReason } });
    expect(events.filter((e) => e.type === 'rollout.cancelled')).toEqual([]);
    await sleep(300);
    const facts = await rolloutFacts(h.db, rolloutId);
    const cancelled = facts.filter((f) => f.state === 'cancelled');
    const finished = facts.filter((f) => f.state === 'succeeded' || f.state === 'failed');
    expect(cancelled.length).toBeGreaterThan(150);
    expect(cancelled.every((f) => f.attempts.length === 0)).toBe(true);
    expect(facts.filter((f) => f.state === 'pending' || f.state === 'in_progress')).toHaveLength(0);
    expect(finished.length).toBeGreaterThanOrEqual(10);
    // A claim re-reads the rollout's status when it commits, so only claims racing the cancel's own transaction
    // (at most one per concurrency slot) can carry a start time after the abort's timestamp; nothing starts later.
    const abortedAt = rollout.finishedAt!.getTime();
    const lateStarts = facts.flatMap((f) => f.attempts).filter((a) => a.startedAt.getTime() > abortedAt);
    expect(lateStarts.length).toBeLessThanOrEqual(4);
    expect(lateStarts.every((a) => a.startedAt.getTime() - abortedAt < 1000)).toBe(true);
    expect(h.sim.stats().requests).toBe(finished.length);
  });
});

describe('fleet-wide errors', () => {
  it('pause the rollout at once with the reason instead of failing every instance; a resume with fixed credentials finishes it', async () => {
    h = await startHarness({ latencyMs: 10 });
    const ids = instanceIds(100, 'i-fw');
    const rolloutId = await h.createRollout(ids, { concurrency: 5 });
    const wrong = await h.startPool({ accessKeySecret: 'not-the-secret-0001' });
    await h.waitForRolloutStatus(rolloutId, 'paused');
    await sleep(500);
    await wrong.stop();
    const paused = (await findRollout(h.db, rolloutId))!;
    expect(paused.statusReason).toMatch(/^fleet-wide error SignatureDoesNotMatch/);
    // Five jobs met the error at once; the one whose pause won wrote the only event.
    const pauses = (await eventsOf(h, rolloutId)).filter((e) => e.type === 'rollout.paused');
    expect(pauses).toHaveLength(1);
    expect(pauses[0]).toMatchObject({
      actor: { kind: 'worker' },
      data: { cause: { kind: 'fleet_wide_error', code: 'SignatureDoesNotMatch' }, reason: paused.statusReason },
    });
    const facts = await rolloutFacts(h.db, rolloutId);
    expect(facts.filter((f) => f.state === 'failed')).toHaveLength(0);
    const touched = facts.filter((f) => f.attempts.length > 0);
    expect(touched.length).toBeGreaterThan(0);
    expect(touched.length).toBeLessThanOrEqual(5 + 5);
    expect(
      touched
        .flatMap((f) => f.attempts)
        .every((a) => a.outcomeKind === 'fleet_wide' && a.errorCode === 'SignatureDoesNotMatch'),
    ).toBe(true);

    await h.startPool();
    await resumeRollout(control(h), rolloutId);
    await h.waitForRolloutStatus(rolloutId, 'completed');
    const done = await rolloutFacts(h.db, rolloutId);
    expect(done.every((f) => f.state === 'succeeded')).toBe(true);
    for (const f of done.filter((d) => touched.some((t) => t.instanceId === d.instanceId))) {
      expect(f.attempts.at(-1)!.outcome).toBe('success');
      expect(f.attempts.slice(0, -1).every((a) => a.outcomeKind === 'fleet_wide')).toBe(true);
    }
  });
});

describe('instance timeout', () => {
  it('fails an instance as timed out once its in-progress time runs out, before its attempts do', async () => {
    h = await startHarness({ latencyMs: 1, hangRate: 1 });
    const rolloutId = await h.createRollout(instanceIds(6, 'i-to'), {
      concurrency: 6,
      retry: { maxAttempts: 10, baseDelayMs: 100, maxDelayMs: 100 },
      policy: { instanceTimeoutMs: 1000 },
    });
    await h.startPool({ callTimeoutMs: 300 });
    await h.waitForRolloutStatus(rolloutId, 'completed');
    for (const f of await rolloutFacts(h.db, rolloutId)) {
      expect(f).toMatchObject({ state: 'failed', needsManualInstall: true, manualInstallReason: 'timed_out' });
      expect(f.attemptCount).toBeGreaterThanOrEqual(2);
      expect(f.attemptCount).toBeLessThan(10);
      expect(f.attempts.every((a) => a.errorCode === 'Timeout')).toBe(true);
      expect(f.finishedAt!.getTime() - f.startedAt!.getTime()).toBeLessThan(1000 + 300 + 500);
    }
  });
});

describe('operator actions', () => {
  it('pause starts no new call within a second; resume continues exactly where it stopped', async () => {
    h = await startHarness({ latencyMs: 40 });
    const ids = instanceIds(150, 'i-pr');
    const rolloutId = await h.createRollout(ids, { concurrency: 10 });
    await h.startPool();
    const sim = h.sim;
    await waitFor('30 calls', () => sim.stats().requests >= 30, { intervalMs: 20 });
    expect((await pauseRollout(control(h), rolloutId, 'operator looks')).kind).toBe('changed');
    expect((await pauseRollout(control(h), rolloutId, 'again')).kind).toBe('unchanged');
    await sleep(1000);
    const atOneSecond = sim.stats().requests;
    expect(sim.stats().inFlight).toBe(0);
    await sleep(1000);
    expect(sim.stats().requests).toBe(atOneSecond);
    expect(atOneSecond).toBeLessThan(150);
    expect(await h.db.prisma.rolloutInstance.count({ where: { rolloutId, state: 'in_progress' } })).toBe(0);

    expect((await resumeRollout(control(h), rolloutId)).kind).toBe('changed');
    await h.waitForRolloutStatus(rolloutId, 'completed');
    const facts = await rolloutFacts(h.db, rolloutId);
    expect(facts.every((f) => f.state === 'succeeded' && f.attempts.length === 1)).toBe(true);
    expect(sim.stats().requests).toBe(150);
  });

  it('cancel lets running calls finish, cancels everything not started, and refuses to resume', async () => {
    h = await startHarness({ latencyMs: 60 });
    const rolloutId = await h.createRollout(instanceIds(120, 'i-cx'), { concurrency: 8 });
    await h.startPool();
    const sim = h.sim;
    await waitFor('20 calls', () => sim.stats().requests >= 20, { intervalMs: 20 });
    expect((await cancelRollout(control(h), rolloutId, 'wrong fleet')).kind).toBe('changed');
    await waitFor('no call in flight', () => sim.stats().inFlight === 0, { intervalMs: 20 });
    await sleep(300);
    const calls = sim.stats().requests;
    const facts = await rolloutFacts(h.db, rolloutId);
    expect(facts.filter((f) => f.state === 'succeeded')).toHaveLength(calls);
    expect(facts.filter((f) => f.state === 'cancelled')).toHaveLength(120 - calls);
    expect(facts.filter((f) => f.state === 'cancelled').every((f) => f.attempts.length === 0)).toBe(true);
    expect((await findRollout(h.db, rolloutId))!).toMatchObject({ status: 'cancelled', statusReason: 'wrong fleet' });
    expect((await resumeRollout(control(h), rolloutId)).kind).toBe('refused');
    expect((await cancelRollout(control(h), rolloutId, 'again')).kind).toBe('unchanged');
    await sleep(500);
    expect(sim.stats().requests).toBe(calls);
  });

  it('takes concurrency as a share of the rollout and follows a live change of it', async () => {
    h = await startHarness({ latencyMs: 30 });
    const rolloutId = await h.createRollout(instanceIds(400, 'i-pc'), { concurrency: '5%' });
    expect((await findRollout(h.db, rolloutId))!.concurrency).toBe(20);
    await h.startPool({ maxConcurrencyPerRollout: 50 });
    const sim = h.sim;
    await waitFor('60 calls', () => sim.stats().requests >= 60, { intervalMs: 20 });
    expect(sim.stats().maxInFlight).toBeLessThanOrEqual(20);
    const rollout = (await findRollout(h.db, rolloutId))!;
    const updated = await changeRolloutPolicy(control(h), rollout, { ...readPolicy(rollout.policy), concurrency: 4 });
    expect(updated!.concurrency).toBe(4);
    await sleep(300); // calls already in flight under the old limit finish
    sim.reset();
    await waitFor('40 calls', () => sim.stats().requests >= 40, { intervalMs: 20 });
    expect(sim.stats().maxInFlight).toBeLessThanOrEqual(4);
    await h.waitForRolloutStatus(rolloutId, 'completed');
  });
});
