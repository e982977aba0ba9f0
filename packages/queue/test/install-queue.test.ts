import { afterAll, describe, expect, it } from 'vitest';
import { createLogger } from '@fleet/logger';
import { deleteKeysWithPrefix, testRedisUrl, uniquePrefix } from '@fleet/testing';
import {
  createRedisConnection,
  enqueueInstallJobs,
  installQueueName,
  isRedisReachable,
  openInstallQueue,
} from '../src/index.ts';

const logger = createLogger({ service: 'queue-test', silent: true });
const prefix = uniquePrefix('queue');
const redis = createRedisConnection(testRedisUrl(), 'producer', logger);

afterAll(async () => {
  await deleteKeysWithPrefix(prefix);
  await redis.quit();
});

describe('install queue', () => {
  it('enqueues one job per instance with the instance id as job id, idempotently, and sets the rollout-wide concurrency', async () => {
    const rolloutId = '11111111-1111-4111-8111-111111111111';
    const queue = openInstallQueue(redis, rolloutId, prefix, logger);
    const instances = Array.from({ length: 2500 }, (_, i) => ({ id: BigInt(i + 1), instanceId: `i-q${i}` }));
    await enqueueInstallJobs(queue, { rolloutId, concurrency: 7, instances });
    await enqueueInstallJobs(queue, { rolloutId, concurrency: 7, instances: instances.slice(0, 100) });
    expect(await queue.getWaitingCount()).toBe(2500);
    expect(await queue.getGlobalConcurrency()).toBe(7);
    expect(queue.name).toBe(installQueueName(rolloutId));
    const job = await queue.getJob('i-q42');
    expect(job?.data).toEqual({ rolloutId, rolloutInstanceId: '43', instanceId: 'i-q42' });
    expect(job?.opts.removeOnComplete).toBe(true);
    await queue.obliterate({ force: true });
    await queue.close();
  });
});

describe('install queue, pages of instances', () => {
  it('enqueues pages read one after another, of sizes that are not multiples of a chunk: exactly one job per instance', async () => {
    const rolloutId = '22222222-2222-4222-8222-222222222222';
    const queue = openInstallQueue(redis, rolloutId, prefix, logger);
    const pageSizes = [1501, 1, 999, 2301];
    const instances = Array.from({ length: pageSizes.reduce((a, b) => a + b, 0) }, (_, i) => ({
      id: BigInt(i + 1),
      instanceId: `i-p${i}`,
    }));
    async function* pages() {
      let start = 0;
      for (const size of pageSizes) {
        yield instances.slice(start, start + size);
        start += size;
      }
    }
    expect(await enqueueInstallJobs(queue, { rolloutId, concurrency: 3, instances: pages() })).toBe(instances.length);
    const jobs = await queue.getJobs(['waiting'], 0, -1);
    expect(jobs.map((j) => j.data).sort((a, b) => Number(a.rolloutInstanceId) - Number(b.rolloutInstanceId))).toEqual(
      instances.map((i) => ({ rolloutId, rolloutInstanceId: i.id.toString(), instanceId: i.instanceId })),
    );
    expect(await queue.getGlobalConcurrency()).toBe(3);
    await queue.obliterate({ force: true });
    await queue.close();
  });

  it('stops at a page that cannot be read and rejects with its error; what was handed over before stays queued', async () => {
    const rolloutId = '33333333-3333-4333-8333-333333333333';
    const queue = openInstallQueue(redis, rolloutId, prefix, logger);
    const first = Array.from({ length: 1200 }, (_, i) => ({ id: BigInt(i + 1), instanceId: `i-e${i}` }));
    async function* pages() {
      yield first;
      throw new Error('postgres went away');
    }
    await expect(enqueueInstallJobs(queue, { rolloutId, concurrency: 3, instances: pages() })).rejects.toThrow(
      'postgres went away',
    );
    // The chunks sent before the failure have landed by the time it rejects; enqueueing again only adds the rest.
    expect(await queue.getWaitingCount()).toBe(1200);
    expect(
      await enqueueInstallJobs(queue, {
        rolloutId,
        concurrency: 3,
        instances: [...first, { id: 1201n, instanceId: 'i-e1200' }],
      }),
    ).toBe(1201);
    expect(await queue.getWaitingCount()).toBe(1201);
    await queue.obliterate({ force: true });
    await queue.close();
  });
});

describe('redis connections', () => {
  it('reports reachability, and a producer against a dead Redis fails fast instead of queueing commands', async () => {
    await new Promise((r) => (redis.status === 'ready' ? r(null) : redis.once('ready', r)));
    expect(await isRedisReachable(redis)).toBe(true);
    const dead = createRedisConnection('redis://127.0.0.1:1', 'producer', logger);
    const started = Date.now();
    expect(await isRedisReachable(dead)).toBe(false);
    await expect(dead.ping()).rejects.toThrow();
    expect(Date.now() - started).toBeLessThan(3000);
    dead.disconnect();
  });

  it('gives workers a connection that never gives up on a command', () => {
    const worker = createRedisConnection(testRedisUrl(), 'worker', logger);
    expect(worker.options.maxRetriesPerRequest).toBeNull();
    expect(redis.options.enableOfflineQueue).toBe(false);
    worker.disconnect();
  });
});
