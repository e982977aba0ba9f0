/**
 * Pause, resume, cancel and the abort threshold, against real Postgres and Redis: Postgres decides (a guarded
 * transition), then the rollout's queue in Redis is told; a Redis that cannot be told changes no decision.
 */
import { describe, expect, it } from 'vitest';
import { findRollout } from '@fleet/db';
import { createRedisConnection } from '@fleet/queue';
import { capturingLogger, instanceIds } from '@fleet/testing';
import { abortIfThresholdCrossed, cancelRollout, pauseRollout, resumeRollout } from '../src/index.ts';
import type { ControlServices } from './support.ts';
import { finishInstances, logged, startedRollout, useControlServices, waitingJobIds } from './support.ts';

let services: ControlServices;
useControlServices('control-transitions', (opened) => (services = opened));

describe('pauseRollout', () => {
  it('pauses a running rollout in Postgres and its queue in Redis; pausing again re-pauses the queue without a change', async () => {
    const { rollout, queue } = await startedRollout(services, instanceIds(3, 'i-pa'));
    const paused = await pauseRollout(services, rollout.id, 'operator: looks wrong');
    expect(paused).toMatchObject({
      kind: 'changed',
      from: 'running',
      to: 'paused',
      rollout: { status: 'paused', statusReason: 'operator: looks wrong' },
    });
    expect(await queue.isPaused()).toBe(true);
    expect(logged(services.lines, 'rollout paused')).toEqual([
      expect.objectContaining({ rolloutId: rollout.id, reason: 'operator: looks wrong', level: 'warn' }),
    ]);

    // Redis lost the pause (a restart, FLUSHALL): a repeated pause tells it again, though nothing changes in Postgres.
    await queue.resume();
    const again = await pauseRollout(services, rollout.id, 'second click');
    expect(again).toMatchObject({ kind: 'unchanged', rollout: { statusReason: 'operator: looks wrong' } });
    expect(await queue.isPaused()).toBe(true);
    expect(logged(services.lines, 'rollout paused').filter((l) => l.rolloutId === rollout.id)).toHaveLength(1);
    await queue.close();
  });

  it('refuses to pause a finished rollout and leaves its queue alone; an unknown rollout is missing', async () => {
    const { rollout, queue } = await startedRollout(services, instanceIds(2, 'i-pf'));
    await services.db.prisma.rollout.update({ where: { id: rollout.id }, data: { status: 'completed' } });
    expect(await pauseRollout(services, rollout.id, 'too late')).toMatchObject({
      kind: 'refused',
      rollout: { status: 'completed' },
    });
    expect(await queue.isPaused()).toBe(false);
    expect(await pauseRollout(services, '00000000-0000-4000-8000-000000000000', 'x')).toEqual({ kind: 'missing' });
    await queue.close();
  });
});

describe('resumeRollout', () => {
  it('resumes a paused rollout and its queue; resuming a running one changes nothing', async () => {
    const { rollout, queue } = await startedRollout(services, instanceIds(3, 'i-re'));
    await pauseRollout(services, rollout.id, 'hold on');
    const resumed = await resumeRollout(services, rollout.id);
    expect(resumed).toMatchObject({ kind: 'changed', from: 'paused', to: 'running', rollout: { status: 'running' } });
    expect(await queue.isPaused()).toBe(false);
    expect(await waitingJobIds(queue)).toEqual(instanceIds(3, 'i-re'));
    expect(await resumeRollout(services, rollout.id)).toMatchObject({ kind: 'unchanged' });
    await queue.close();
  });

  it('promotes the next wave when a rollout paused at a wave gate is resumed: the operator approved it', async () => {
    const ids = instanceIds(5, 'i-rg');
    const { rollout, queue } = await startedRollout(services, ids, {
      waveSizes: [2, 3],
      policy: { waveSuccessThresholdPercent: 90 },
    });
    // The first wave ends with half its instances failed, below the threshold: the rollout stops at the gate.
    await queue.drain();
    await finishInstances(services, rollout.id, ids.slice(0, 1), 'succeeded');
    await finishInstances(services, rollout.id, ids.slice(1, 2), 'failed');
    await services.db.prisma.rollout.update({
      where: { id: rollout.id },
      data: { status: 'paused', statusReason: 'wave 1 success rate 50.0% is below the 90% threshold' },
    });
    await queue.pause();

    expect(await resumeRollout(services, rollout.id)).toMatchObject({ kind: 'changed', to: 'running' });
    expect(await findRollout(services.db, rollout.id)).toMatchObject({ status: 'running', currentWave: 2 });
    expect(await waitingJobIds(queue)).toEqual(ids.slice(2));
    expect(await queue.isPaused()).toBe(false);
    await queue.close();
  });
});

describe('cancelRollout', () => {
  it('cancels the pending instances in Postgres and drains the queue; running calls are left to finish', async () => {
    const ids = instanceIds(4, 'i-ca');
    const { rollout, queue } = await startedRollout(services, ids);
    await services.db.prisma.rolloutInstance.updateMany({
      where: { rolloutId: rollout.id, instanceId: ids[0] },
      data: { state: 'in_progress', attemptCount: 1 },
    });
    await finishInstances(services, rollout.id, [ids[1]!], 'succeeded');

    const cancelled = await cancelRollout(services, rollout.id, 'operator: wrong fleet');
    expect(cancelled).toMatchObject({
      kind: 'changed',
      to: 'cancelled',
      rollout: { status: 'cancelled', statusReason: 'operator: wrong fleet' },
    });
    expect(cancelled.kind === 'changed' && cancelled.rollout.finishedAt).toBeInstanceOf(Date);
    const states = await services.db.prisma.rolloutInstance.findMany({
      where: { rolloutId: rollout.id },
      orderBy: { instanceId: 'asc' },
      select: { state: true },
    });
    expect(states.map((s) => s.state)).toEqual(['in_progress', 'succeeded', 'cancelled', 'cancelled']);
    expect(await waitingJobIds(queue)).toEqual([]);

    // Cancelled is final: cancelling again changes nothing, pausing and resuming are refused.
    expect(await cancelRollout(services, rollout.id, 'again')).toMatchObject({ kind: 'unchanged' });
    expect(await pauseRollout(services, rollout.id, 'x')).toMatchObject({ kind: 'refused' });
    expect(await resumeRollout(services, rollout.id)).toMatchObject({ kind: 'refused' });
    await queue.close();
  });

  it('still cancels in Postgres when Redis cannot be told, and says so in the log', async () => {
    const { logger, lines } = capturingLogger({ service: 'control-test' });
    // Nothing listens on port 1: every command fails at once.
    const unreachable = createRedisConnection('redis://127.0.0.1:1', 'producer', logger);
    const { rollout, queue } = await startedRollout(services, instanceIds(2, 'i-cr'));
    try {
      const result = await cancelRollout({ ...services, redis: unreachable, logger }, rollout.id, 'redis is down');
      expect(result).toMatchObject({ kind: 'changed', to: 'cancelled' });
      expect(await findRollout(services.db, rollout.id)).toMatchObject({ status: 'cancelled' });
      expect(logged(lines, 'could not drain the queue in Redis; workers still obey the status in Postgres')).toEqual([
        expect.objectContaining({ rolloutId: rollout.id, level: 'warn' }),
      ]);
      // The jobs are still there; workers skip them because the rollout is cancelled in Postgres.
      expect(await waitingJobIds(queue)).toHaveLength(2);
    } finally {
      unreachable.disconnect();
      await queue.close();
    }
  });
});

describe('abortIfThresholdCrossed', () => {
  const abort = { failureThresholdPercent: 50, minFinished: 4 };

  it('waits for enough finished instances, then cancels the rest once failures reach the threshold', async () => {
    const ids = instanceIds(8, 'i-ab');
    const { rollout, queue } = await startedRollout(services, ids, { policy: { abort } });
    await finishInstances(services, rollout.id, ids.slice(0, 3), 'failed');
    // Three of three failed, but fewer than minFinished have finished.
    expect(await abortIfThresholdCrossed(services, rollout)).toBe(false);
    expect(await findRollout(services.db, rollout.id)).toMatchObject({ status: 'running' });

    await finishInstances(services, rollout.id, ids.slice(3, 5), 'succeeded');
    // 3 failed of 5 finished: 60% >= 50%.
    expect(await abortIfThresholdCrossed(services, rollout)).toBe(true);
    expect(await findRollout(services.db, rollout.id)).toMatchObject({
      status: 'cancelled',
      statusReason: 'aborted: 3 of 5 finished instances failed (60.0% >= 50%)',
    });
    expect(
      await services.db.prisma.rolloutInstance.count({ where: { rolloutId: rollout.id, state: 'cancelled' } }),
    ).toBe(3);
    expect(await waitingJobIds(queue)).toEqual([]);
    // Already cancelled: nothing more to abort.
    expect(await abortIfThresholdCrossed(services, rollout)).toBe(false);
    await queue.close();
  });

  it('does not abort below the threshold, nor a rollout without an abort policy', async () => {
    const ids = instanceIds(6, 'i-an');
    const guarded = await startedRollout(services, ids, { policy: { abort } });
    await finishInstances(services, guarded.rollout.id, ids.slice(0, 2), 'failed');
    await finishInstances(services, guarded.rollout.id, ids.slice(2, 5), 'succeeded');
    // 2 of 5: 40% < 50%.
    expect(await abortIfThresholdCrossed(services, guarded.rollout)).toBe(false);

    const unguarded = await startedRollout(services, instanceIds(4, 'i-au'));
    await finishInstances(services, unguarded.rollout.id, instanceIds(4, 'i-au'), 'failed');
    expect(await abortIfThresholdCrossed(services, unguarded.rollout)).toBe(false);
    for (const { rollout, queue } of [guarded, unguarded]) {
      expect(await findRollout(services.db, rollout.id)).toMatchObject({ status: 'running' });
      await queue.close();
    }
  });
});
