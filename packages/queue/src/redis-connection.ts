import { Redis } from 'ioredis';
import type { Logger } from '@fleet/logger';

/**
 * Connection roles. A BullMQ worker must never give up on a command (`maxRetriesPerRequest: null`): it blocks on
 * Redis and rides out restarts. An API producer must fail fast (no offline queue, one retry) so the request
 * answers 503 instead of hanging while Redis is away. The worker's `limits` connection carries only the
 * concurrency and rate-limit scripts, which every job runs several times: ioredis auto-pipelining sends the commands
 * issued in one event-loop turn in one write, instead of one write (a system call and a wake-up of Redis) each. It
 * rides out restarts like `worker`. Never give it to BullMQ, whose own commands are not safe under auto-pipelining
 * (OptimalBits/bull#2276, taskforcesh/bullmq#457).
 */
export type RedisRole = 'worker' | 'producer' | 'control' | 'limits';

export function createRedisConnection(url: string, role: RedisRole, logger: Logger): Redis {
  const common = { lazyConnect: false, connectionName: `fleet-${role}` };
  const byRole = {
    worker: { maxRetriesPerRequest: null, enableReadyCheck: true },
    producer: { maxRetriesPerRequest: 1, enableOfflineQueue: false, connectTimeout: 2000, commandTimeout: 5000 },
    control: { maxRetriesPerRequest: 3, connectTimeout: 2000 },
    limits: { maxRetriesPerRequest: null, enableReadyCheck: true, enableAutoPipelining: true },
  }[role];
  const redis = new Redis(url, { ...common, ...byRole, retryStrategy: (times: number) => Math.min(times * 200, 2000) });
  let lastError = '';
  redis.on('error', (error: Error) => {
    // ioredis repeats the same error every reconnect attempt; one line per distinct error is enough.
    if (error.message !== lastError) logger.warn('redis connection error', { role, error: error.message });
    lastError = error.message;
  });
  redis.on('ready', () => {
    if (lastError) logger.info('redis connection restored', { role });
    lastError = '';
  });
  return redis;
}

/** True when Redis answers PING within `timeoutMs`. */
export async function isRedisReachable(redis: Redis, timeoutMs = 1000): Promise<boolean> {
  if (redis.status !== 'ready') return false;
  let timer: NodeJS.Timeout | undefined;
  try {
    const pong = await Promise.race([
      redis.ping(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error('redis ping timed out')), timeoutMs);
      }),
    ]);
    return pong === 'PONG';
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}
