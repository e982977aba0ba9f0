import { QueueKeys } from 'bullmq';
import type { RedisClient } from './redis-connection.ts';
import { installJobId, installQueueName } from './names.ts';

/**
 * The Redis key of the hash of an instance's install job in its rollout's queue: it exists exactly while BullMQ
 * holds the job (waiting, delayed, active, or failed and kept). Built with BullMQ's own key layout (QueueKeys), the
 * one its scripts use, rather than by hand.
 */
export function installJobKey(prefix: string, rolloutId: string, instanceId: string): string {
  return new QueueKeys(prefix).toKey(installQueueName(rolloutId), installJobId(instanceId));
}

/**
 * Which of `instanceIds` have no install job in the rollout's queue, in one pipelined round trip (one EXISTS per
 * instance; the job keys all carry the queue's hash tag, so on a cluster too they are one slot). For repairs after
 * Redis lost data: Postgres says the instance is open, Redis has no job for it.
 */
export async function findMissingInstallJobs(
  redis: RedisClient,
  prefix: string,
  rolloutId: string,
  instanceIds: readonly string[],
): Promise<Set<string>> {
  const pipeline = redis.pipeline();
  for (const instanceId of instanceIds) pipeline.exists(installJobKey(prefix, rolloutId, instanceId));
  const results = (await pipeline.exec()) ?? [];
  const missing = new Set<string>();
  results.forEach(([error, exists], i) => {
    if (error) throw error;
    if (exists === 0) missing.add(instanceIds[i]!);
  });
  return missing;
}
