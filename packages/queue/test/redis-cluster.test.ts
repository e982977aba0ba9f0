/**
 * The queue package on a Redis Cluster of the test's own (three masters with a replica each): BullMQ's queue and
 * worker, our reads across rollouts and the scan of a prefix, with rollouts whose queues lie on different masters.
 * On one node none of this can fail: a pipeline or script across slots is only refused by a cluster.
 */
import { randomUUID } from 'node:crypto';
import { Cluster } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '@fleet/logger';
import { deleteKeysWithPrefix, startPrivateRedisCluster, uniquePrefix, waitFor } from '@fleet/testing';
import type { PrivateRedisCluster } from '@fleet/testing';
import type { RedisClient, RedisTarget } from '../src/index.ts';
import {
  countInstallJobs,
  createInstallWorker,
  createRedisConnection,
  describeRedisTarget,
  enqueueInstallJobs,
  findMissingInstallJobs,
  installJobKey,
  openInstallQueue,
  redisTargetOf,
  rolloutWorkChannel,
} from '../src/index.ts';

const logger = createLogger({ service: 'queue-cluster-test', silent: true });
const prefix = uniquePrefix('queue-cluster');
let cluster: PrivateRedisCluster;
let target: RedisTarget;
let producer: RedisClient;
let connection: RedisClient;

beforeAll(async () => {
  cluster = await startPrivateRedisCluster();
  target = redisTargetOf({ REDIS_URL: 'redis://127.0.0.1:1', REDIS_CLUSTER_NODES: cluster.nodes });
  producer = createRedisConnection(target, 'producer', logger);
  connection = createRedisConnection(target, 'worker', logger);
  await waitFor('both connections ready', () => producer.status === 'ready' && connection.status === 'ready');
}, 60_000);

afterAll(async () => {
  await Promise.all([producer?.quit(), connection?.quit()]);
  await cluster?.stop();
});

const instances = (n: number, tag: string) =>
  Array.from({ length: n }, (_, i) => ({ id: BigInt(i + 1), instanceId: `i-${tag}${i}` }));

/** Two rollout ids whose queues are served by different masters. */
async function rolloutsOnTwoMasters(): Promise<[string, string]> {
  const first = randomUUID();
  const firstMaster = await cluster.masterOf(installJobKey(prefix, first, 'i-x'));
  for (;;) {
    const second = randomUUID();
    if ((await cluster.masterOf(installJobKey(prefix, second, 'i-x'))) !== firstMaster) return [first, second];
  }
}

describe('the install queues on a Redis Cluster', () => {
  it('connects through REDIS_CLUSTER_NODES as a cluster, named without its password', () => {
    const target = redisTargetOf({
      REDIS_URL: 'redis://x:1',
      REDIS_CLUSTER_NODES: cluster.nodes,
      REDIS_PASSWORD: 'pw-9',
    });
    expect(target).toMatchObject({ kind: 'cluster', nodes: cluster.nodes, password: 'pw-9' });
    expect(describeRedisTarget(target)).toBe(
      `cluster via ${cluster.nodes.map((n) => `127.0.0.1:${n.port}`).join(',')}`,
    );
    expect(producer).toBeInstanceOf(Cluster);
  });

  it('enqueues, counts across rollouts on different masters, finds missing jobs, runs them, and deletes by prefix', async () => {
    const rollouts = await rolloutsOnTwoMasters();
    const queues = rollouts.map((rolloutId) => openInstallQueue(producer, rolloutId, prefix, logger));
    try {
      for (const [i, rolloutId] of rollouts.entries())
        await enqueueInstallJobs(queues[i]!, { rolloutId, concurrency: 2, instances: instances(5, `c${i}`) });
      expect(await queues[0]!.getGlobalConcurrency()).toBe(2);
      // One pipeline over both queues would be refused by ioredis (keys of slots on different nodes).
      expect(await countInstallJobs(producer, prefix, rollouts)).toMatchObject({ waiting: 10, active: 0 });
      await queues[1]!.remove('i-c10');
      const missing = await findMissingInstallJobs(producer, prefix, rollouts[1], ['i-c10', 'i-c11']);
      expect([...missing]).toEqual(['i-c10']);

      const ran: string[] = [];
      const workers = rollouts.map((rolloutId) =>
        createInstallWorker({
          connection,
          prefix,
          rolloutId,
          concurrency: 2,
          lockDurationMs: 2000,
          logger,
          async processor(job) {
            ran.push(job.data.instanceId);
          },
        }),
      );
      try {
        await waitFor('every job to have run', () => ran.length === 9, { timeoutMs: 20_000 });
        expect(await countInstallJobs(producer, prefix, rollouts)).toMatchObject({ waiting: 0, active: 0 });
      } finally {
        await Promise.all(workers.map((w) => w.close()));
      }

      // Keys of both queues, on two masters, until the scan of every master deletes them.
      const masters = (producer as Cluster).nodes('master');
      const keysOf = async () =>
        (await Promise.all(masters.map((node) => node.keys(`${prefix}:*`)))).map((keys) => keys.length);
      expect((await keysOf()).filter((n) => n > 0).length).toBeGreaterThanOrEqual(2);
      expect(await deleteKeysWithPrefix(prefix, producer as Cluster)).toBeGreaterThan(0);
      expect(await keysOf()).toEqual(masters.map(() => 0));
    } finally {
      await Promise.all(queues.map((q) => q.close()));
    }
  }, 60_000);

  it('announces an enqueued rollout to a worker subscribed through the cluster', async () => {
    const subscriber = createRedisConnection(target, 'worker', logger);
    const heard: string[] = [];
    subscriber.on('message', (channel: string, message: string) => {
      if (channel === rolloutWorkChannel(prefix)) heard.push(message);
    });
    const rolloutId = randomUUID();
    const queue = openInstallQueue(producer, rolloutId, prefix, logger);
    try {
      await subscriber.subscribe(rolloutWorkChannel(prefix));
      await enqueueInstallJobs(queue, { rolloutId, concurrency: 1, instances: instances(1, 'a') });
      await waitFor('the announcement', () => heard.includes(rolloutId));
    } finally {
      await queue.close();
      await subscriber.quit();
    }
  });
});
