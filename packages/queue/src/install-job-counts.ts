import { QueueKeys } from 'bullmq';
import type { RedisClient } from './redis-connection.ts';
import { installQueueName } from './names.ts';
import { execPerSlotGroup } from './redis-slots.ts';

/** BullMQ's job states as counted here: each is one list or sorted set of a queue. */
const STATE_KEYS = [
  ['waiting', 'wait', 'llen'],
  ['paused', 'paused', 'llen'],
  ['active', 'active', 'llen'],
  ['delayed', 'delayed', 'zcard'],
  ['prioritized', 'prioritized', 'zcard'],
  ['waiting-children', 'waiting-children', 'zcard'],
  ['completed', 'completed', 'zcard'],
  ['failed', 'failed', 'zcard'],
] as const;

export type InstallJobState = (typeof STATE_KEYS)[number][0];

/**
 * Install jobs per BullMQ state summed over the queues of `rolloutIds`, in one pipelined round trip (a length per
 * state and queue, O(1) each; on a cluster one pipeline per queue, at once: execPerSlotGroup), instead of a Queue
 * object and getJobCounts per rollout. A queue Redis lost counts 0.
 */
export async function countInstallJobs(
  redis: RedisClient,
  prefix: string,
  rolloutIds: readonly string[],
): Promise<Record<InstallJobState, number>> {
  const keys = new QueueKeys(prefix);
  const results = await execPerSlotGroup(
    redis,
    rolloutIds.map((rolloutId) => (pipeline) => {
      const queue = installQueueName(rolloutId);
      for (const [, key, command] of STATE_KEYS) pipeline[command](keys.toKey(queue, key));
    }),
  );
  const counts = Object.fromEntries(STATE_KEYS.map(([state]) => [state, 0])) as Record<InstallJobState, number>;
  results.forEach(([error, n], i) => {
    if (error) throw error;
    counts[STATE_KEYS[i % STATE_KEYS.length]![0]] += Number(n);
  });
  return counts;
}
