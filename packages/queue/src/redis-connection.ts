import { Redis } from 'ioredis';
import type { RedisOptions } from 'ioredis';
import type { Logger } from '@fleet/logger';

/**
 * Where Redis is: one node by URL, or the master a set of sentinels names (ioredis asks them, connects to the master
 * and asks again after a failover).
 */
export type RedisTarget =
  | { kind: 'node'; url: string }
  | {
      kind: 'sentinel';
      sentinels: { host: string; port: number }[];
      /** The master's name in the sentinels' configuration. */
      name: string;
      password?: string;
      sentinelPassword?: string;
    };

/** The settings of `redisEnv` (@fleet/config) as an app parsed them. */
export type RedisSettings = {
  REDIS_URL: string;
  REDIS_SENTINELS?: { host: string; port: number }[];
  REDIS_SENTINEL_NAME?: string;
  REDIS_PASSWORD?: string;
  REDIS_SENTINEL_PASSWORD?: string;
};

/** The connection target an app's parsed Redis settings name: the sentinels when any are set, else REDIS_URL. */
export function redisTargetOf(settings: RedisSettings): RedisTarget {
  if (settings.REDIS_SENTINELS && settings.REDIS_SENTINELS.length > 0) {
    return {
      kind: 'sentinel',
      sentinels: settings.REDIS_SENTINELS,
      name: settings.REDIS_SENTINEL_NAME ?? 'mymaster',
      ...(settings.REDIS_PASSWORD ? { password: settings.REDIS_PASSWORD } : {}),
      ...(settings.REDIS_SENTINEL_PASSWORD ? { sentinelPassword: settings.REDIS_SENTINEL_PASSWORD } : {}),
    };
  }
  return { kind: 'node', url: settings.REDIS_URL };
}

/** How a target is named in logs and messages: never a password. */
export function describeRedisTarget(target: RedisTarget | string): string {
  if (typeof target === 'string') return target.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:[redacted]@');
  if (target.kind === 'node') return describeRedisTarget(target.url);
  return `sentinel ${target.name} via ${target.sentinels.map((s) => `${s.host}:${s.port}`).join(',')}`;
}

/** Options that reach the target: a URL's host and port, or the sentinels to ask for the master. */
function targetOptions(target: RedisTarget | string): { url?: string; options: RedisOptions } {
  if (typeof target === 'string') return { url: target, options: {} };
  if (target.kind === 'node') return { url: target.url, options: {} };
  return {
    options: {
      sentinels: target.sentinels,
      name: target.name,
      ...(target.password ? { password: target.password } : {}),
      ...(target.sentinelPassword ? { sentinelPassword: target.sentinelPassword } : {}),
      // A demoted master answers writes with READONLY until its clients reconnect: reconnect at once (and ask the
      // sentinels again) instead of failing the command. Sentinel also kills the old master's clients itself.
      reconnectOnError: (error: Error) => (error.message.startsWith('READONLY') ? 2 : false),
      // Subscribe to +switch-master so a failover is followed as soon as the sentinels announce it.
      failoverDetector: true,
      sentinelRetryStrategy: (times: number) => Math.min(times * 200, 2000),
    },
  };
}

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

export function createRedisConnection(target: RedisTarget | string, role: RedisRole, logger: Logger): Redis {
  const common = { lazyConnect: false, connectionName: `fleet-${role}` };
  const byRole = {
    worker: { maxRetriesPerRequest: null, enableReadyCheck: true },
    producer: { maxRetriesPerRequest: 1, enableOfflineQueue: false, connectTimeout: 2000, commandTimeout: 5000 },
    control: { maxRetriesPerRequest: 3, connectTimeout: 2000 },
    limits: { maxRetriesPerRequest: null, enableReadyCheck: true, enableAutoPipelining: true },
  }[role];
  const { url, options } = targetOptions(target);
  const settings: RedisOptions = {
    ...common,
    ...byRole,
    ...options,
    retryStrategy: (times: number) => Math.min(times * 200, 2000),
  };
  const redis = url === undefined ? new Redis(settings) : new Redis(url, settings);
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
