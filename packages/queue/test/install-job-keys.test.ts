import { afterAll, describe, expect, it } from 'vitest';
import { createLogger } from '@fleet/logger';
import { deleteKeysWithPrefix, testRedisUrl, uniquePrefix } from '@fleet/testing';
import {
  createRedisConnection,
  enqueueInstallJobs,
  findMissingInstallJobs,
  installJobKey,
  openInstallQueue,
} from '../src/index.ts';

const logger = createLogger({ service: 'queue-test', silent: true });
const prefix = uniquePrefix('queue-keys');
const redis = createRedisConnection(testRedisUrl(), 'producer', logger);

afterAll(async () => {
  await deleteKeysWithPrefix(prefix);
  await redis.quit();
});

describe('install job keys', () => {
  it("names the key of an instance's job hash as BullMQ keeps it, and finds the instances whose job is gone", async () => {
    const rolloutId = '66666666-6666-4666-8666-666666666666';
    const queue = openInstallQueue(redis, rolloutId, prefix, logger);
    try {
      const instances = ['i-k0', 'i-k1', 'i-k2'].map((instanceId, i) => ({ id: BigInt(i + 1), instanceId }));
      await enqueueInstallJobs(queue, { rolloutId, concurrency: 1, instances });
      expect(await redis.exists(installJobKey(prefix, rolloutId, 'i-k0'))).toBe(1);
      expect(await redis.hget(installJobKey(prefix, rolloutId, 'i-k0'), 'name')).toBe('node-install');
      await queue.remove('i-k1');
      expect(await redis.exists(installJobKey(prefix, rolloutId, 'i-k1'))).toBe(0);

      const missing = await findMissingInstallJobs(redis, prefix, rolloutId, ['i-k0', 'i-k1', 'i-k2', 'i-k9']);
      expect([...missing].sort()).toEqual(['i-k1', 'i-k9']);
      // Another rollout's queue, or another deployment's prefix, holds none of them.
      const otherRollout = '77777777-7777-4777-8777-777777777777';
      expect((await findMissingInstallJobs(redis, prefix, otherRollout, ['i-k0'])).has('i-k0')).toBe(true);
      expect((await findMissingInstallJobs(redis, `${prefix}-other`, rolloutId, ['i-k0'])).has('i-k0')).toBe(true);
      expect((await findMissingInstallJobs(redis, prefix, rolloutId, [])).size).toBe(0);
    } finally {
      await queue.obliterate({ force: true });
      await queue.close();
    }
  });
});
