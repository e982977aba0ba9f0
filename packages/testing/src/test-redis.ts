import { randomBytes } from 'node:crypto';
import { Cluster, Redis } from 'ioredis';

export function testRedisUrl(): string {
  return process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
}

/** A BullMQ key prefix of a test file's own, so parallel files never see each other's queues. */
export function uniquePrefix(label = 'test'): string {
  return `fleet-${label}-${randomBytes(5).toString('hex')}`;
}

/** Deletes the keys under `prefix` on one node, a SCAN page at a time; one UNLINK per key (see below). */
async function deleteOnNode(node: Redis, prefix: string): Promise<number> {
  let cursor = '0';
  let deleted = 0;
  do {
    const [next, keys] = await node.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length === 0) continue;
    // One key a command: on a cluster node, a DEL naming keys of different slots is refused (CROSSSLOT).
    const pipeline = node.pipeline();
    for (const key of keys) pipeline.unlink(key);
    for (const [error, n] of (await pipeline.exec()) ?? []) {
      if (error) throw error;
      deleted += Number(n);
    }
  } while (cursor !== '0');
  return deleted;
}

/**
 * Deletes every key under `prefix` (what `obliterate` does for one queue, for all of a test's queues at once), on
 * the Redis at `url` or through `client`. On a cluster the scan runs on every master: SCAN sees one node's keys.
 */
export async function deleteKeysWithPrefix(
  prefix: string,
  target: string | Redis | Cluster = testRedisUrl(),
): Promise<number> {
  if (target instanceof Cluster) {
    const counts = await Promise.all(target.nodes('master').map((node) => deleteOnNode(node, prefix)));
    return counts.reduce((a, b) => a + b, 0);
  }
  if (target instanceof Redis) return deleteOnNode(target, prefix);
  const redis = new Redis(target, { maxRetriesPerRequest: 3 });
  try {
    return await deleteOnNode(redis, prefix);
  } finally {
    await redis.quit();
  }
}
