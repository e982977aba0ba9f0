/**
 * Acceptance: Redis Sentinel failover in the middle of a rollout. A private deployment (one master, two replicas,
 * three sentinels; never the machine's shared Redis); every app connects through the sentinels (REDIS_SENTINELS);
 * `SENTINEL FAILOVER` promotes a replica and demotes the master while calls are in flight. Replication is
 * asynchronous, so the last writes to the old master may be lost (BullMQ's job state, limit slots): Postgres stays the
 * record and the reconciler puts back what Redis forgot. The rollout completes with every call one attempt row, no
 * instance final twice, and no process restarted. The notifier runs through the sentinels too, with a webhook
 * subscription to a receiver of the test: every event of the rollout reaches it once, under its delivery's webhook-id.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPrivateSentinel, uniquePrefix } from '@fleet/testing';
import type { PrivateSentinel } from '@fleet/testing';
import type { FaultDeployment } from './fault-deployment.ts';
import { startFaultDeployment } from './fault-deployment.ts';

const INSTANCES = 1200;

let sentinel: PrivateSentinel;
let deployment: FaultDeployment;

beforeAll(async () => {
  sentinel = await startPrivateSentinel();
  deployment = await startFaultDeployment({
    label: 'sentinel',
    prefix: uniquePrefix('sentinel'),
    redisEnv: {
      REDIS_SENTINELS: sentinel.sentinels.map((s) => `${s.host}:${s.port}`).join(','),
      REDIS_SENTINEL_NAME: sentinel.name,
    },
    seed: 'sentinel-seed',
    failureRate: 0.05,
    concurrency: 20,
    webhooks: true,
  });
}, 90_000);

afterAll(async () => {
  await deployment?.close();
  await sentinel?.stop();
});

describe('Redis Sentinel failover mid-rollout', () => {
  it('completes through the new master; attempt rows equal the calls; no instance final twice; no process restarted; each event delivered once', async () => {
    await deployment.rolloutThroughFault(INSTANCES, async () => {
      const oldMaster = await sentinel.masterPort();
      const newMaster = await sentinel.failover();
      expect(newMaster).not.toBe(oldMaster);
      return `sentinel failover, master ${oldMaster} -> ${newMaster}`;
    });
  }, 240_000);

  it('every process stops on SIGTERM with exit code 0 afterwards', async () => {
    expect(deployment.processes).toHaveLength(5);
    expect(await Promise.all(deployment.processes.map((p) => p.stop('SIGTERM')))).toEqual([0, 0, 0, 0, 0]);
  });
});
