import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';

export function testRedisUrl(): string {
  return process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
}

/** A BullMQ key prefix of a test file's own, so parallel files never see each other's queues. */
export function uniquePrefix(label = 'test'): string {
  return `fleet-${label}-${randomBytes(5).toString('hex')}`;
}

/** Deletes every key under `prefix` (what `obliterate` does for one queue, for all of a test's queues at once). */
export async function deleteKeysWithPrefix(prefix: string, url = testRedisUrl()): Promise<number> {
  const redis = new Redis(url, { maxRetriesPerRequest: 3 });
  try {
    let cursor = '0';
    let deleted = 0;
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) deleted += await redis.del(...keys);
    } while (cursor !== '0');
    return deleted;
  } finally {
    await redis.quit();
  }
}
