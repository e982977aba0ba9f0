/**
 * Acceptance: the product on a Redis Cluster (three masters with a replica each, private ports; never the machine's
 * shared Redis), every app connected through REDIS_CLUSTER_NODES. A first rollout completes on the healthy cluster:
 * every script, MULTI and pipeline of BullMQ and of our own keys stays in one slot (a CROSSSLOT error fails a job
 * or a request). Then, in a second rollout, the master serving that rollout's queue is killed (SIGKILL): its replica
 * is promoted, writes the old master had not yet passed on are lost, and the reconciler puts back from Postgres what
 * Redis forgot. Both complete with every call one attempt row, no instance final twice and no process restarted.
 * The notifier runs on the cluster too, with a webhook subscription to a receiver of the test: every event of each
 * rollout reaches it once, under its delivery's webhook-id, also when the master dies mid-rollout.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installJobKey, installQueueName } from '@fleet/queue';
import { startPrivateRedisCluster, uniquePrefix } from '@fleet/testing';
import type { PrivateRedisCluster } from '@fleet/testing';
import type { FaultDeployment } from './fault-deployment.ts';
import { startFaultDeployment } from './fault-deployment.ts';

const prefix = uniquePrefix('cluster');

let cluster: PrivateRedisCluster;
let deployment: FaultDeployment;

beforeAll(async () => {
  cluster = await startPrivateRedisCluster();
  deployment = await startFaultDeployment({
    label: 'cluster',
    prefix,
    redisEnv: { REDIS_CLUSTER_NODES: cluster.nodes.map((n) => `${n.host}:${n.port}`).join(',') },
    seed: 'cluster-seed',
    failureRate: 0.05,
    concurrency: 20,
    webhooks: true,
  });
}, 90_000);

afterAll(async () => {
  await deployment?.close();
  await cluster?.stop();
});

describe('Redis Cluster', () => {
  it('a rollout completes on the cluster; attempt rows equal the calls; no instance final twice; each event delivered once', async () => {
    const { callsAtFault } = await deployment.rolloutThroughFault(600, async () => 'no fault');
    expect(callsAtFault).toBeGreaterThan(0);
  }, 180_000);

  it('a master killed mid-rollout (its replica promoted): the rollout completes, every call one attempt row, each event delivered once', async () => {
    await deployment.rolloutThroughFault(1200, async (rolloutId) => {
      // The master holding this rollout's queue: its jobs, locks and concurrency are what the failover may lose.
      const { killed, promoted } = await cluster.killMaster(installJobKey(prefix, rolloutId, 'i-any'));
      expect(promoted).not.toBe(killed);
      return `master ${killed} of ${installQueueName(rolloutId)} killed, replica ${promoted} promoted`;
    });
  }, 240_000);

  it('every process stops on SIGTERM with exit code 0 afterwards', async () => {
    expect(deployment.processes).toHaveLength(5);
    expect(await Promise.all(deployment.processes.map((p) => p.stop('SIGTERM')))).toEqual([0, 0, 0, 0, 0]);
  });
});
