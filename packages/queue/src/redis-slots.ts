import type { ChainableCommander } from 'ioredis';
import type { RedisClient } from './redis-connection.ts';

/** A pipeline's answers in order: each command's error or result. */
export type PipelineResults = [error: Error | null, result: unknown][];

/**
 * Sends groups of commands, where the keys of each group share one hash slot (e.g. one queue's keys, names.ts), in as
 * few round trips as the topology allows: all groups in one pipeline on one node; on a Redis Cluster, one pipeline
 * per group, all sent at once (ioredis refuses a pipeline whose keys lie in slots of different nodes). Answers in the
 * order the commands were added, as one pipeline would. Commands are not atomic either way (a pipeline is no MULTI).
 */
export async function execPerSlotGroup(
  redis: RedisClient,
  groups: readonly ((pipeline: ChainableCommander) => void)[],
): Promise<PipelineResults> {
  if (groups.length === 0) return [];
  if (!redis.isCluster) {
    const pipeline = redis.pipeline();
    for (const add of groups) add(pipeline);
    return ((await pipeline.exec()) ?? []) as PipelineResults;
  }
  const answers = await Promise.all(
    groups.map(async (add) => {
      const pipeline = redis.pipeline();
      add(pipeline);
      return ((await pipeline.exec()) ?? []) as PipelineResults;
    }),
  );
  return answers.flat();
}
