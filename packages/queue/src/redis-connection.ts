import { Cluster, Redis } from 'ioredis';
import type { ClusterOptions, RedisOptions } from 'ioredis';
import type { Logger } from '@fleet/logger';

/**
 * A connection as every package takes it: one node (or the master Sentinel names) or a Redis Cluster. Code given one
 * issues only commands both answer the same; what differs on a cluster (a pipeline's keys in one slot, a SCAN per
 * master) is handled where it happens: see redis-slots.ts and the key scheme in names.ts.
 */
export type RedisClient = Redis | Cluster;

/**
 * Where Redis is: one node by URL, the master a set of sentinels names (ioredis asks them, connects to the master
 * and asks again after a failover), or a Redis Cluster reached through any of its nodes (ioredis learns the rest and
 * the slot map from them, and follows a failover by the MOVED answers and a fresh slot map).
 */
export type RedisTarget =
  | { kind: 'node'; url: string }
  | {
      kind: 'cluster';
      /** Some nodes of the cluster (any role): ioredis asks the first that answers for the slot map. */
      nodes: { host: string; port: number }[];
      password?: string;
    }
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
  REDIS_CLUSTER_NODES?: { host: string; port: number }[];
};

/**
 * The connection target an app's parsed Redis settings name: the cluster's nodes when any are set, else the
 * sentinels when any are set, else REDIS_URL. (The app's schema refuses both a cluster and sentinels at once:
 * `checkRedisTopology` in @fleet/config.)
 */
export function redisTargetOf(settings: RedisSettings): RedisTarget {
  if (settings.REDIS_CLUSTER_NODES && settings.REDIS_CLUSTER_NODES.length > 0) {
    return {
      kind: 'cluster',
      nodes: settings.REDIS_CLUSTER_NODES,
      ...(settings.REDIS_PASSWORD ? { password: settings.REDIS_PASSWORD } : {}),
    };
  }
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
  if (target.kind === 'cluster') return `cluster via ${target.nodes.map((n) => `${n.host}:${n.port}`).join(',')}`;
  return `sentinel ${target.name} via ${target.sentinels.map((s) => `${s.host}:${s.port}`).join(',')}`;
}

/** Options that reach a node or Sentinel target: a URL's host and port, or the sentinels to ask for the master. */
function targetOptions(target: RedisTarget | string): { url?: string; options: RedisOptions } {
  if (typeof target === 'string') return { url: target, options: {} };
  if (target.kind === 'node') return { url: target.url, options: {} };
  if (target.kind === 'cluster') throw new Error('a cluster target has no single-node options');
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

/** Waits between reconnects, ms: 200 more each time, at most 2 s. Never gives up: a process outlives a Redis outage. */
const reconnectDelay = (times: number) => Math.min(times * 200, 2000);

/**
 * Per role, how a connection to one node (or the master Sentinel names) behaves; on a cluster these are the options
 * of its connection to each node.
 */
const NODE_OPTIONS_BY_ROLE = {
  worker: { maxRetriesPerRequest: null, enableReadyCheck: true },
  producer: { maxRetriesPerRequest: 1, enableOfflineQueue: false, connectTimeout: 2000, commandTimeout: 5000 },
  control: { maxRetriesPerRequest: 3, connectTimeout: 2000 },
  limits: { maxRetriesPerRequest: null, enableReadyCheck: true, enableAutoPipelining: true },
} satisfies Record<RedisRole, RedisOptions>;

/**
 * The same roles on a cluster. ioredis sends a command again when its node's connection closed, or the cluster
 * answers CLUSTERDOWN or TRYAGAIN (a master is down and its replica not yet promoted: up to `cluster-node-timeout`
 * plus an election), waiting `retryDelayOn*` ms each time, until `maxRedirections` tries are spent. So that budget is
 * what `maxRetriesPerRequest` is on one node: unbounded for the roles that must ride out a failover (a worker,
 * BullMQ's blocking reads, the limits), 16 tries 100 ms apart (ioredis's default, about 2 s) for the API, which
 * answers 503 rather than hang, and about 6 s for the reconciler, whose next pass tries again anyway. The API's
 * cluster connection has no offline queue either: before the cluster is reachable its commands fail at once.
 */
const CLUSTER_OPTIONS_BY_ROLE = {
  worker: { maxRedirections: Number.POSITIVE_INFINITY, retryDelayOnFailover: 200, retryDelayOnClusterDown: 200 },
  producer: { maxRedirections: 16, enableOfflineQueue: false },
  control: { maxRedirections: 30, retryDelayOnFailover: 200, retryDelayOnClusterDown: 200 },
  limits: {
    maxRedirections: Number.POSITIVE_INFINITY,
    retryDelayOnFailover: 200,
    retryDelayOnClusterDown: 200,
    enableAutoPipelining: true,
  },
} satisfies Record<RedisRole, ClusterOptions>;

function createClusterConnection(target: Extract<RedisTarget, { kind: 'cluster' }>, role: RedisRole): Cluster {
  const nodeOptions: RedisOptions = { ...NODE_OPTIONS_BY_ROLE[role] };
  // Cluster-wide settings on a cluster (CLUSTER_OPTIONS_BY_ROLE); ioredis gives every node connection an offline queue.
  delete nodeOptions.enableAutoPipelining;
  delete nodeOptions.enableOfflineQueue;
  return new Cluster(target.nodes, {
    ...CLUSTER_OPTIONS_BY_ROLE[role],
    clusterRetryStrategy: reconnectDelay,
    // Reads and writes go to masters only: a replica may lag, and BullMQ reads what it has just written.
    scaleReads: 'master',
    redisOptions: {
      ...nodeOptions,
      connectionName: `fleet-${role}`,
      ...(target.password ? { password: target.password } : {}),
    },
  });
}

/**
 * A connection of `role` to `target`, with an `error` listener that logs each distinct error once. A URL, a node or
 * Sentinel target gives a `Redis`; a target that may be a cluster gives a RedisClient.
 */
export function createRedisConnection(
  target: string | Exclude<RedisTarget, { kind: 'cluster' }>,
  role: RedisRole,
  logger: Logger,
): Redis;
export function createRedisConnection(target: RedisTarget | string, role: RedisRole, logger: Logger): RedisClient;
export function createRedisConnection(target: RedisTarget | string, role: RedisRole, logger: Logger): RedisClient {
  let redis: RedisClient;
  if (typeof target !== 'string' && target.kind === 'cluster') redis = createClusterConnection(target, role);
  else {
    const { url, options } = targetOptions(target);
    const settings: RedisOptions = {
      lazyConnect: false,
      connectionName: `fleet-${role}`,
      ...NODE_OPTIONS_BY_ROLE[role],
      ...options,
      retryStrategy: reconnectDelay,
    };
    redis = url === undefined ? new Redis(settings) : new Redis(url, settings);
  }
  let lastError = '';
  const onError = (error: Error) => {
    // ioredis repeats the same error every reconnect attempt; one line per distinct error is enough.
    if (error.message !== lastError) logger.warn('redis connection error', { role, error: error.message });
    lastError = error.message;
  };
  redis.on('error', onError);
  // A cluster reports a failing node apart from its own errors; without a listener they would go unseen.
  if (redis instanceof Cluster) redis.on('node error', onError);
  redis.on('ready', () => {
    if (lastError) logger.info('redis connection restored', { role });
    lastError = '';
  });
  return redis;
}

/** True when Redis answers PING within `timeoutMs`. */
export async function isRedisReachable(redis: RedisClient, timeoutMs = 1000): Promise<boolean> {
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
