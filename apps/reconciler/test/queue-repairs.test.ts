/**
 * The reconciler's Redis-side repairs against real Postgres and Redis: what Redis lost comes back from Postgres,
 * what Postgres says is finished leaves Redis, and nothing still in flight is touched.
 */
import { Queue, UnrecoverableError } from 'bullmq';
import type { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { claimAttempt, completeRolloutIfDone, DIRECT_WRITER } from '@fleet/db';
import type { Database } from '@fleet/db';
import { createInstallWorker, createRedisConnection, installQueueName, openInstallQueue } from '@fleet/queue';
import { capturingLogger, deleteKeysWithPrefix, instanceIds, testRedisUrl, uniquePrefix } from '@fleet/testing';
import type { RunningSimulator } from './support.ts';
import { ACCESS_KEY_SECRET, createEnqueuedRollout, makeReconciler, useReconcilerServices } from './support.ts';

const { logger, lines } = capturingLogger({ service: 'queue-repairs-test', secrets: [ACCESS_KEY_SECRET] });
const prefix = uniquePrefix('repairs');
let db: Database;
let redis: Redis;
let simulator: RunningSimulator;
useReconcilerServices({ prefix, logger }, (services) => ({ db, redis, simulator } = services));

const reconciler = () => makeReconciler({ db, redis, prefix, logger, cms: simulator.cms, staleAttemptMs: 1000 });
const queueOf = (rolloutId: string) => openInstallQueue(redis, rolloutId, prefix, logger);
/** Everything Redis held for this rollout's queue goes, as after a FLUSHALL (without flushing the shared Redis). */
const loseQueue = (rolloutId: string) => deleteKeysWithPrefix(`${prefix}:${installQueueName(rolloutId)}`);

async function jobIdsIn(rolloutId: string, types: ('wait' | 'delayed' | 'failed' | 'active' | 'prioritized')[]) {
  const queue = queueOf(rolloutId);
  try {
    return (await queue.getRanges(types, 0, -1)).sort();
  } finally {
    await queue.close();
  }
}

describe('lost jobs', () => {
  it('re-adds the job of every pending instance Redis lost, and restores the queue concurrency, once', async () => {
    const ids = instanceIds(12, 'i-lost');
    const { rolloutId } = await createEnqueuedRollout(db, redis, prefix, logger, ids, { concurrency: 4 });
    await loseQueue(rolloutId);
    expect(await jobIdsIn(rolloutId, ['wait'])).toEqual([]);

    const r = reconciler();
    const first = await r.runOnce();
    expect(first.queue).toMatchObject({ requeuedPending: 12, concurrencyRestored: 1, requeuedStale: 0 });
    expect(await jobIdsIn(rolloutId, ['wait'])).toEqual([...ids].sort());
    const queue = queueOf(rolloutId);
    expect(await queue.getGlobalConcurrency()).toBe(4);
    await queue.close();
    expect(
      lines.some(
        (l) =>
          l.includes('re-enqueued pending instances whose job was missing') &&
          l.includes(rolloutId) &&
          l.includes('"instances":12'),
      ),
    ).toBe(true);

    const second = await r.runOnce();
    expect(second.queue).toMatchObject({ requeuedPending: 0, concurrencyRestored: 0 });
    await r.stop();
  });

  it('leaves instances whose job still exists alone, whatever its state', async () => {
    const { rolloutId } = await createEnqueuedRollout(db, redis, prefix, logger, instanceIds(5, 'i-kept'));
    const r = reconciler();
    expect((await r.runOnce()).queue).toMatchObject({
      requeuedPending: 0,
      requeuedStale: 0,
      requeuedFailedJobs: 0,
      removedFinalJobs: 0,
      concurrencyRestored: 0,
    });
    expect(await jobIdsIn(rolloutId, ['wait'])).toHaveLength(5);
    await r.stop();
  });

  it('leaves an in_progress instance whose call may be in flight, and re-adds it once its attempt is stale, never finalising it', async () => {
    const { rolloutId, instances } = await createEnqueuedRollout(db, redis, prefix, logger, ['i-stuck1']);
    const instance = instances[0]!;
    const claim = await claimAttempt(db, {
      rolloutInstanceId: instance.id,
      rolloutId,
      workerId: 'killed-worker',
      staleAfterMs: 60_000,
    });
    expect(claim.kind).toBe('claimed');
    await loseQueue(rolloutId);

    const r = reconciler();
    expect((await r.runOnce()).queue).toMatchObject({ requeuedStale: 0, requeuedPending: 0 });
    expect(await jobIdsIn(rolloutId, ['wait'])).toEqual([]);

    // The worker died: its attempt is older than call timeout + grace.
    await db.prisma.installAttempt.updateMany({
      where: { rolloutInstanceId: instance.id },
      data: { startedAt: new Date(Date.now() - 5000) },
    });
    expect((await r.runOnce()).queue).toMatchObject({ requeuedStale: 1 });
    expect(await jobIdsIn(rolloutId, ['wait'])).toEqual(['i-stuck1']);
    expect(await db.prisma.rolloutInstance.findUniqueOrThrow({ where: { id: instance.id } })).toMatchObject({
      state: 'in_progress',
      attemptCount: 1,
    });
    expect(lines.some((l) => l.includes('worker died') && l.includes('killed-worker'))).toBe(true);
    await r.stop();
  });

  it('defers re-adding lost pending jobs while calls whose jobs were lost may still be in flight, so the concurrency limit holds', async () => {
    const { rolloutId, instances } = await createEnqueuedRollout(
      db,
      redis,
      prefix,
      logger,
      ['i-defer1', 'i-defer2', 'i-defer3'],
      { concurrency: 2 },
    );
    await claimAttempt(db, {
      rolloutInstanceId: instances[0]!.id,
      rolloutId,
      workerId: 'live-worker',
      staleAfterMs: 60_000,
    });
    await loseQueue(rolloutId);
    const r = reconciler();
    expect((await r.runOnce()).queue).toMatchObject({ deferredRequeue: 2, requeuedPending: 0, concurrencyRestored: 1 });
    expect(await jobIdsIn(rolloutId, ['wait'])).toEqual([]);
    // The call ended (here: its worker died and the attempt went stale): everything comes back.
    await db.prisma.installAttempt.updateMany({
      where: { rolloutInstanceId: instances[0]!.id },
      data: { startedAt: new Date(Date.now() - 5000) },
    });
    expect((await r.runOnce()).queue).toMatchObject({ deferredRequeue: 0, requeuedPending: 2, requeuedStale: 1 });
    expect(await jobIdsIn(rolloutId, ['wait'])).toEqual(['i-defer1', 'i-defer2', 'i-defer3']);
    await r.stop();
  });

  it('waits out a retry backoff before re-adding a pending instance', async () => {
    const { rolloutId, instances } = await createEnqueuedRollout(db, redis, prefix, logger, ['i-backoff1']);
    await db.prisma.rolloutInstance.update({
      where: { id: instances[0]!.id },
      data: { attemptCount: 1, nextAttemptAt: new Date(Date.now() + 60_000) },
    });
    await loseQueue(rolloutId);
    const r = reconciler();
    expect((await r.runOnce()).queue.requeuedPending).toBe(0);
    await db.prisma.rolloutInstance.update({
      where: { id: instances[0]!.id },
      data: { nextAttemptAt: new Date(Date.now() - 1) },
    });
    expect((await r.runOnce()).queue.requeuedPending).toBe(1);
    await r.stop();
  });

  it("after the upgrade that gave queue names a hash tag, re-adds a running rollout's jobs under the new name", async () => {
    const ids = instanceIds(6, 'i-upgr');
    const { rolloutId, instances } = await createEnqueuedRollout(db, redis, prefix, logger, ids, { concurrency: 3 });
    // Its jobs as the previous release left them: in `install.<id>`, without the tag (docs/operations.md, Upgrading).
    await loseQueue(rolloutId);
    const previous = new Queue(`install.${rolloutId}`, { connection: redis, prefix });
    await previous.addBulk(
      instances.map((i) => ({ name: 'node-install', data: { rolloutId }, opts: { jobId: i.instanceId } })),
    );
    const r = reconciler();
    expect((await r.runOnce()).queue).toMatchObject({ requeuedPending: 6, concurrencyRestored: 1 });
    expect(await jobIdsIn(rolloutId, ['wait'])).toEqual([...ids].sort());
    // The old queue is left as it was, unread: the operator deletes its keys (docs/operations.md, Upgrading).
    expect(await previous.count()).toBe(6);
    await r.stop();
    await previous.obliterate({ force: true });
    await previous.close();
  });

  it('re-adds only the instances of waves allowed to run', async () => {
    const ids = instanceIds(6, 'i-wave');
    const { rolloutId } = await createEnqueuedRollout(db, redis, prefix, logger, ids, { waveSizes: [2, 4] });
    await loseQueue(rolloutId);
    const r = reconciler();
    expect((await r.runOnce()).queue.requeuedPending).toBe(2);
    expect(await jobIdsIn(rolloutId, ['wait'])).toEqual(ids.slice(0, 2).sort());
    await r.stop();
  });

  it('enqueues only the first wave of a rollout whose enqueue never finished', async () => {
    const ids = instanceIds(5, 'i-unenq');
    const { rolloutId } = await createEnqueuedRollout(db, redis, prefix, logger, ids, {
      waveSizes: [3, 2],
      enqueue: false,
    });
    await db.prisma.rollout.update({ where: { id: rolloutId }, data: { createdAt: new Date(Date.now() - 60_000) } });
    const r = reconciler();
    expect((await r.runOnce()).enqueuedRollouts).toBe(1);
    expect(await jobIdsIn(rolloutId, ['wait'])).toEqual(ids.slice(0, 3).sort());
    await r.stop();
  });
});

describe('jobs and queue state that disagree with Postgres', () => {
  it('re-adds a job BullMQ failed while its instance is open, and removes failed and delayed jobs of final instances', async () => {
    const ids = ['i-bullfail1', 'i-bullfail2', 'i-done1'];
    const { rolloutId, instances } = await createEnqueuedRollout(db, redis, prefix, logger, ids);
    // BullMQ gives up on every job (as when Postgres stayed down through all of BullMQ's own attempts).
    const workerConnection = createRedisConnection(testRedisUrl(), 'worker', logger);
    const worker = createInstallWorker({
      connection: workerConnection,
      prefix,
      rolloutId,
      concurrency: 1,
      lockDurationMs: 30_000,
      logger,
      processor: async () => {
        throw new UnrecoverableError('postgres unavailable');
      },
    });
    await new Promise<void>((resolve) => {
      let failed = 0;
      worker.bullmq.on('failed', () => ++failed === 3 && resolve());
    });
    await worker.close();
    await workerConnection.quit();
    expect(await jobIdsIn(rolloutId, ['failed'])).toEqual([...ids].sort());
    await db.prisma.rolloutInstance.update({
      where: { id: instances[2]!.id },
      data: { state: 'succeeded', finishedAt: new Date() },
    });

    const r = reconciler();
    const report = await r.runOnce();
    expect(report.queue).toMatchObject({ requeuedFailedJobs: 2, removedFinalJobs: 1 });
    expect(await jobIdsIn(rolloutId, ['failed'])).toEqual([]);
    expect(await jobIdsIn(rolloutId, ['wait'])).toEqual(['i-bullfail1', 'i-bullfail2']);

    // A delayed job whose instance became final meanwhile (e.g. a duplicate delivery waiting out a busy claim).
    const queue = queueOf(rolloutId);
    await queue.remove('i-bullfail2');
    await queue.add(
      'node-install',
      { rolloutId, rolloutInstanceId: instances[1]!.id.toString(), instanceId: 'i-bullfail2' },
      { jobId: 'i-bullfail2', delay: 60_000 },
    );
    await queue.close();
    await db.prisma.rolloutInstance.update({
      where: { id: instances[1]!.id },
      data: { state: 'failed', finishedAt: new Date() },
    });
    expect((await r.runOnce()).queue.removedFinalJobs).toBe(1);
    expect(await jobIdsIn(rolloutId, ['delayed'])).toEqual([]);
    await r.stop();
  });

  it('pauses the queue of a paused rollout and resumes the queue of a running one (the flag is lost with Redis)', async () => {
    const { rolloutId } = await createEnqueuedRollout(db, redis, prefix, logger, ['i-pausedq1']);
    const queue = queueOf(rolloutId);
    const r = reconciler();
    await db.prisma.rollout.update({ where: { id: rolloutId }, data: { status: 'paused' } });
    expect((await r.runOnce()).queue.pauseStateRestored).toBe(1);
    expect(await queue.isPaused()).toBe(true);
    await db.prisma.rollout.update({ where: { id: rolloutId }, data: { status: 'running' } });
    expect((await r.runOnce()).queue.pauseStateRestored).toBe(1);
    expect(await queue.isPaused()).toBe(false);
    expect((await r.runOnce()).queue.pauseStateRestored).toBe(0);
    await queue.close();
    await r.stop();
  });

  it('starts the next wave of a rollout whose current wave ended without starting it (its worker died in between)', async () => {
    const ids = instanceIds(5, 'i-stuckwave');
    const { rolloutId, instances } = await createEnqueuedRollout(db, redis, prefix, logger, ids, { waveSizes: [2, 3] });
    await db.prisma.rolloutInstance.updateMany({
      where: { id: { in: instances.slice(0, 2).map((i) => i.id) } },
      data: { state: 'succeeded', finishedAt: new Date() },
    });
    const r = reconciler();
    expect((await r.runOnce()).advancedWaves).toBe(1);
    expect(await db.prisma.rollout.findUniqueOrThrow({ where: { id: rolloutId } })).toMatchObject({
      status: 'running',
      currentWave: 2,
    });
    expect(await jobIdsIn(rolloutId, ['wait'])).toEqual(expect.arrayContaining(ids.slice(2)));
    expect((await r.runOnce()).advancedWaves).toBe(0);
    await r.stop();
  });

  it("closes an in_progress instance of a cancelled rollout once its dead worker's attempt is stale, without a call", async () => {
    const { rolloutId, instances } = await createEnqueuedRollout(db, redis, prefix, logger, ['i-orphan1', 'i-orphan2']);
    await claimAttempt(db, { rolloutInstanceId: instances[0]!.id, rolloutId, workerId: 'dead', staleAfterMs: 60_000 });
    await db.prisma.rollout.update({ where: { id: rolloutId }, data: { status: 'cancelled', finishedAt: new Date() } });
    await db.prisma.rolloutInstance.update({
      where: { id: instances[1]!.id },
      data: { state: 'cancelled', finishedAt: new Date() },
    });
    const r = reconciler();
    expect((await r.runOnce()).closedOrphans).toBe(0);
    await db.prisma.installAttempt.updateMany({
      where: { rolloutInstanceId: instances[0]!.id },
      data: { startedAt: new Date(Date.now() - 5000) },
    });
    expect((await r.runOnce()).closedOrphans).toBe(1);
    const orphan = await db.prisma.rolloutInstance.findUniqueOrThrow({
      where: { id: instances[0]!.id },
      include: { attempts: true },
    });
    expect(orphan).toMatchObject({ state: 'cancelled', attemptCount: 1 });
    expect(orphan.attempts.map((a) => a.outcome)).toEqual(['abandoned']);
    expect(await jobIdsIn(rolloutId, ['wait'])).toEqual([]);
    await r.stop();
  });

  it('completes a rollout whose instances all ended and removes the jobs it left in Redis', async () => {
    const ids = instanceIds(4, 'i-leftover');
    const { rolloutId } = await createEnqueuedRollout(db, redis, prefix, logger, ids);
    await db.prisma.rolloutInstance.updateMany({
      where: { rolloutId },
      data: { state: 'succeeded', finishedAt: new Date() },
    });
    const r = reconciler();
    const report = await r.runOnce();
    expect(report.completedRollouts).toBe(1);
    expect(report.removedClosedRolloutJobs).toBe(4);
    expect(await jobIdsIn(rolloutId, ['wait', 'delayed'])).toEqual([]);
    expect((await r.runOnce()).removedClosedRolloutJobs).toBe(0);
    expect(await completeRolloutIfDone(db, rolloutId, DIRECT_WRITER)).toBe(false);
    await r.stop();
  });
});
