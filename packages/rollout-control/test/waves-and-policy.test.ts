/**
 * Wave advance and policy changes, against real Postgres and Redis: a finished wave lets the next one start (its
 * jobs enqueued) or pauses the rollout at the gate; a policy change reaches Postgres and the queue, and a looser
 * threshold can let a finished wave through.
 */
import { describe, expect, it } from 'vitest';
import { findRollout } from '@fleet/db';
import { defaultPolicy } from '@fleet/rollout-domain';
import { advanceWaves, changeRolloutPolicy, readPolicy } from '../src/index.ts';
import type { ControlServices } from './support.ts';
import { finishInstances, logged, startedRollout, useControlServices, waitingJobIds } from './support.ts';
import { instanceIds } from '@fleet/testing';

let services: ControlServices;
useControlServices('control-waves', (opened) => (services = opened));

describe('advanceWaves', () => {
  it('starts the next wave once the current one is finished and passes its gate, enqueueing only its instances', async () => {
    const ids = instanceIds(10, 'i-wa');
    const { rollout, queue } = await startedRollout(services, ids, { waveSizes: [2, 3, 5] });
    expect(await waitingJobIds(queue)).toEqual(ids.slice(0, 2));

    // Wave 1 still has an open instance: nothing moves.
    await finishInstances(services, rollout.id, ids.slice(0, 1), 'succeeded');
    await advanceWaves(services, rollout, { approved: false });
    expect(await findRollout(services.db, rollout.id)).toMatchObject({ currentWave: 1 });

    await queue.drain();
    await finishInstances(services, rollout.id, ids.slice(1, 2), 'succeeded');
    await advanceWaves(services, rollout, { approved: false });
    expect(await findRollout(services.db, rollout.id)).toMatchObject({ status: 'running', currentWave: 2 });
    expect(await waitingJobIds(queue)).toEqual(ids.slice(2, 5));
    expect(logged(services.lines, 'wave started')).toContainEqual(
      expect.objectContaining({ rolloutId: rollout.id, wave: 2, instances: 3 }),
    );
    // Asked again while wave 2 runs: no second advance, no job added twice.
    await advanceWaves(services, rollout, { approved: false });
    expect(await findRollout(services.db, rollout.id)).toMatchObject({ currentWave: 2 });
    expect(await waitingJobIds(queue)).toEqual(ids.slice(2, 5));
    await queue.close();
  });

  it('pauses at the gate of a wave below the success threshold, in Postgres and in the queue', async () => {
    const ids = instanceIds(6, 'i-wg');
    const { rollout, queue } = await startedRollout(services, ids, {
      waveSizes: [3, 3],
      policy: { waveSuccessThresholdPercent: 90 },
    });
    await queue.drain();
    await finishInstances(services, rollout.id, ids.slice(0, 2), 'succeeded');
    await finishInstances(services, rollout.id, ids.slice(2, 3), 'failed');
    await advanceWaves(services, rollout, { approved: false });
    expect(await findRollout(services.db, rollout.id)).toMatchObject({
      status: 'paused',
      currentWave: 1,
      statusReason: 'wave 1 success rate 66.7% is below the 90% threshold',
    });
    expect(await queue.isPaused()).toBe(true);
    expect(await waitingJobIds(queue)).toEqual([]);
    await queue.close();
  });

  it('skips a wave with nothing left to do and starts the one after it', async () => {
    const ids = instanceIds(6, 'i-we');
    const { rollout, queue } = await startedRollout(services, ids, { waveSizes: [2, 2, 2] });
    await queue.drain();
    await finishInstances(services, rollout.id, ids.slice(0, 2), 'succeeded');
    // Wave 2's instances ended before it started (e.g. a repair closed them).
    await finishInstances(services, rollout.id, ids.slice(2, 4), 'succeeded');
    await advanceWaves(services, rollout, { approved: false });
    expect(await findRollout(services.db, rollout.id)).toMatchObject({ status: 'running', currentWave: 3 });
    expect(await waitingJobIds(queue)).toEqual(ids.slice(4));
    await queue.close();
  });

  it('completes the rollout once its last wave is done', async () => {
    const ids = instanceIds(3, 'i-wl');
    const { rollout, queue } = await startedRollout(services, ids, { waveSizes: [1, 2] });
    await queue.drain();
    await finishInstances(services, rollout.id, ids.slice(0, 1), 'succeeded');
    await advanceWaves(services, rollout, { approved: false });
    await queue.drain();
    await finishInstances(services, rollout.id, ids.slice(1), 'failed');
    // The last wave's failures need no gate: the rollout is simply done.
    await advanceWaves(services, rollout, { approved: false });
    const done = await findRollout(services.db, rollout.id);
    expect(done).toMatchObject({ status: 'completed', currentWave: 2 });
    expect(done!.finishedAt).toBeInstanceOf(Date);
    expect(logged(services.lines, 'rollout completed')).toContainEqual(
      expect.objectContaining({ rolloutId: rollout.id }),
    );
    await queue.close();
  });
});

describe('changeRolloutPolicy', () => {
  it('writes the new policy, concurrency and attempts to Postgres and the concurrency to the queue', async () => {
    const { rollout, queue } = await startedRollout(services, instanceIds(10, 'i-pc'), { concurrency: 5 });
    expect(await queue.getGlobalConcurrency()).toBe(5);
    const policy = {
      ...readPolicy(rollout.policy),
      concurrency: '30%' as const,
      retry: { ...readPolicy(rollout.policy).retry, maxAttempts: 6 },
    };
    const updated = await changeRolloutPolicy(services, rollout, policy);
    // 30% of 10 instances.
    expect(updated).toMatchObject({ concurrency: 3, maxAttempts: 6 });
    expect(readPolicy(updated!.policy)).toMatchObject({ concurrency: '30%', retry: { maxAttempts: 6 } });
    expect(await queue.getGlobalConcurrency()).toBe(3);
    expect(logged(services.lines, 'rollout policy changed')).toContainEqual(
      expect.objectContaining({ rolloutId: rollout.id, concurrency: 3 }),
    );
    await queue.close();
  });

  it('lets a finished wave through when the threshold is lowered below its success rate', async () => {
    const ids = instanceIds(4, 'i-pt');
    const { rollout, queue } = await startedRollout(services, ids, {
      waveSizes: [2, 2],
      policy: { waveSuccessThresholdPercent: 90 },
    });
    await queue.drain();
    await finishInstances(services, rollout.id, ids.slice(0, 1), 'succeeded');
    await finishInstances(services, rollout.id, ids.slice(1, 2), 'failed');
    // 50% success: with the threshold at 40% the gate passes.
    const updated = await changeRolloutPolicy(services, rollout, {
      ...readPolicy(rollout.policy),
      waveSuccessThresholdPercent: 40,
    });
    expect(updated).not.toBeNull();
    expect(await findRollout(services.db, rollout.id)).toMatchObject({ status: 'running', currentWave: 2 });
    expect(await waitingJobIds(queue)).toEqual(ids.slice(2));
    await queue.close();
  });

  it('refuses a finished rollout: nothing changes in Postgres or in the queue', async () => {
    const { rollout, queue } = await startedRollout(services, instanceIds(2, 'i-pr'), { concurrency: 4 });
    await services.db.prisma.rollout.update({ where: { id: rollout.id }, data: { status: 'cancelled' } });
    expect(await changeRolloutPolicy(services, rollout, { ...defaultPolicy(), concurrency: 1 })).toBeNull();
    expect(await findRollout(services.db, rollout.id)).toMatchObject({ concurrency: 4 });
    expect(await queue.getGlobalConcurrency()).toBe(4);
    await queue.close();
  });
});
