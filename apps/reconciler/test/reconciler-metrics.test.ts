/**
 * The reconciler's /metrics, served as main.ts serves it: the gauges show Postgres and Redis as they are at the
 * scrape (rollouts per status, paused ones by kind of reason, open rollouts' instances, their jobs, flags), the
 * repairs of its passes are counted by kind, and the leader gauge says whether this replica holds the lease.
 */
import { describe, expect, it } from 'vitest';
import type { Database } from '@fleet/db';
import { DIRECT_WRITER, completeRolloutIfDone } from '@fleet/db';
import { createLogger } from '@fleet/logger';
import { createMetricsRegistry, createMetricsServer, createReconcilerMetrics } from '@fleet/metrics';
import { openInstallQueue } from '@fleet/queue';
import type { Redis } from 'ioredis';
import { pauseRollout } from '@fleet/rollout-control';
import { freePort, scrapeMetrics, sumSamples, uniquePrefix } from '@fleet/testing';
import type { MetricSample } from '@fleet/testing';
import { readReconcilerSnapshot, repairsOf } from '../src/reconciler-metrics.ts';
import type { RunningSimulator } from './support.ts';
import { USER_ID, createEnqueuedRollout, makeReconciler, useReconcilerServices } from './support.ts';

const logger = createLogger({ service: 'reconciler-metrics-test', silent: true });
const prefix = uniquePrefix('recmetrics');
let db: Database;
let redis: Redis;
let simulator: RunningSimulator;
useReconcilerServices({ prefix, logger }, (services) => ({ db, redis, simulator } = services));

const value = (samples: MetricSample[], name: string, labels: Record<string, string> = {}) =>
  sumSamples(samples, name, labels);

describe('reconciler metrics', () => {
  it('show rollouts, paused reasons, open instances, jobs, flags, repairs and leadership as they are', async () => {
    const registry = createMetricsRegistry();
    const metrics = createReconcilerMetrics(registry, {
      snapshot: () => readReconcilerSnapshot({ db, redis, prefix }),
    });
    const server = createMetricsServer({ registry, port: await freePort(), host: '127.0.0.1' });
    const url = `http://127.0.0.1:${await server.start()}/metrics`;
    try {
      const running = await createEnqueuedRollout(db, redis, prefix, logger, ['i-m1', 'i-m2', 'i-m3']);
      const paused = await createEnqueuedRollout(db, redis, prefix, logger, ['i-m4', 'i-m5']);
      await pauseRollout(
        { db, redis, prefix, logger, by: DIRECT_WRITER },
        paused.rolloutId,
        'fleet-wide error InvalidAccessKeyId: x',
        { kind: 'fleet_wide_error', code: 'InvalidAccessKeyId' },
      );
      const done = await createEnqueuedRollout(db, redis, prefix, logger, ['i-m6'], { enqueue: false });
      await db.prisma.rolloutInstance.updateMany({ where: { rolloutId: done.rolloutId }, data: { state: 'failed' } });
      await completeRolloutIfDone(db, done.rolloutId, DIRECT_WRITER);
      const failed = await db.prisma.rolloutInstance.findFirstOrThrow({ where: { rolloutId: done.rolloutId } });
      await db.prisma.manualInstallFlag.create({
        data: {
          rolloutInstanceId: failed.id,
          rolloutId: done.rolloutId,
          userId: USER_ID,
          instanceId: failed.instanceId,
          reason: 'no_server_guard_agent',
          status: 'acknowledged',
        },
      });

      let samples = await scrapeMetrics(url);
      expect(value(samples, 'fleet_rollouts', { status: 'running' })).toBe(1);
      expect(value(samples, 'fleet_rollouts', { status: 'paused' })).toBe(1);
      expect(value(samples, 'fleet_rollouts', { status: 'completed' })).toBe(1);
      expect(value(samples, 'fleet_rollouts_paused', { reason: 'fleet_wide_error' })).toBe(1);
      expect(value(samples, 'fleet_rollouts_paused', { reason: 'operator' })).toBe(0);
      expect(value(samples, 'fleet_rollout_instances', { rollout_id: running.rolloutId, state: 'pending' })).toBe(3);
      expect(value(samples, 'fleet_rollout_instances', { rollout_id: paused.rolloutId, state: 'pending' })).toBe(2);
      // Closed rollouts have no series: the label set stays as small as the open rollouts.
      expect(samples.some((s) => s.labels.rollout_id === done.rolloutId)).toBe(false);
      expect(
        value(samples, 'fleet_queue_jobs', { state: 'waiting' }) +
          value(samples, 'fleet_queue_jobs', { state: 'paused' }),
      ).toBe(5);
      expect(value(samples, 'fleet_queue_jobs', { state: 'active' })).toBe(0);
      expect(value(samples, 'fleet_manual_install_flags', { status: 'acknowledged' })).toBe(1);
      expect(value(samples, 'fleet_reconciler_leader')).toBe(0);
      expect(samples.some((s) => s.name === 'nodejs_eventloop_lag_seconds')).toBe(true);

      // Redis lost one job of the running rollout: the pass re-adds it, and the repair is counted.
      const queue = openInstallQueue(redis, running.rolloutId, prefix, logger);
      await queue.remove('i-m2');
      await queue.close();
      const reconciler = makeReconciler({
        db,
        redis,
        prefix,
        logger,
        cms: simulator.cms,
        onPassFinished: (report) => metrics.passFinished({ leader: report.leader, repairs: repairsOf(report) }),
      });
      const report = await reconciler.runOnce();
      await reconciler.stop();
      expect(report.queue.requeuedPending).toBe(1);

      samples = await scrapeMetrics(url);
      expect(value(samples, 'fleet_reconciler_repairs_total', { kind: 'requeued_pending' })).toBe(1);
      expect(value(samples, 'fleet_reconciler_repairs_total', { kind: 'enqueued_rollout' })).toBe(0);
      expect(value(samples, 'fleet_reconciler_leader')).toBe(1);
    } finally {
      await server.stop();
    }
  });
});
