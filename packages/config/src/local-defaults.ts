import { z } from 'zod';
import { env } from './env-fields.ts';

/** Defaults shared by every app so the product runs on one machine with nothing set. */
export const LOCAL_DEFAULTS = Object.freeze({
  databaseUrl: 'postgresql://postgres@127.0.0.1:5432/fleet',
  redisUrl: 'redis://127.0.0.1:6379',
  /** The API's PORT. */
  apiPort: 3000,
  simulatorPort: 8787,
  /** The simulator's built-in AccessKey pair: not a real credential, only good against our simulator. */
  accessKeyId: 'LTAIsimulatorkey0001',
  accessKeySecret: 'simulator-secret-not-for-production',
});

/**
 * The CloudMonitor client settings, spelled and defaulted the same in every app that calls CloudMonitor (worker,
 * reconciler). An app spreads them into its schema and may redefine a field to say what its calls are; @fleet/cms-client
 * (`cmsClientOptions`) turns the parsed settings into client options.
 */
export const cmsClientEnv = {
  /** The CloudMonitor endpoint. Default: the local simulator. */
  CMS_ENDPOINT: env.url(`http://127.0.0.1:${LOCAL_DEFAULTS.simulatorPort}/`),
  CMS_ACCESS_KEY_ID: z.string().min(1).default(LOCAL_DEFAULTS.accessKeyId),
  CMS_ACCESS_KEY_SECRET: z.string().min(1).default(LOCAL_DEFAULTS.accessKeySecret),
  /** STS token, when the AccessKey pair is temporary. */
  CMS_SECURITY_TOKEN: z.string().min(1).optional(),
  /** Deadline of one call, in ms. Default 10000. */
  CMS_TIMEOUT_MS: env.positiveInt(10_000),
  /** `POST` (default, form body) or `GET` (every parameter in the query string). */
  CMS_METHOD: z.enum(['GET', 'POST']).default('POST'),
  /**
   * How calls are signed: `v1` (default, RPC signature 1.0, HMAC-SHA1 over the parameters) or `v3`
   * (`ACS3-HMAC-SHA256` in an Authorization header, what Alibaba's current SDKs send).
   */
  CMS_SIGNATURE_VERSION: z.enum(['v1', 'v3'], { error: 'expected v1 or v3' }).default('v1'),
};

const HOST_PORT = /^[A-Za-z0-9.\-_[\]:]+:\d{1,5}$/;
const hostPortList = (what: string) =>
  z
    .string()
    .optional()
    .transform((value, context) => {
      const entries = (value ?? '')
        .split(',')
        .map((entry) => entry.trim())
        .filter(Boolean);
      const bad = entries.find((entry) => !HOST_PORT.test(entry));
      if (bad !== undefined) {
        context.addIssue({ code: 'custom', message: `expected ${what} as host:port[,host:port...]; got "${bad}"` });
        return z.NEVER;
      }
      return entries.map((entry) => {
        const at = entry.lastIndexOf(':');
        return { host: entry.slice(0, at).replace(/^\[|\]$/g, ''), port: Number(entry.slice(at + 1)) };
      });
    });

/**
 * Where Redis is, spelled the same in every app that uses it. One node: REDIS_URL. Sentinel: REDIS_SENTINELS (the
 * sentinels, host:port, comma separated) and REDIS_SENTINEL_NAME (the master's name in their configuration). Redis
 * Cluster: REDIS_CLUSTER_NODES (some of its nodes, host:port, comma separated). With either, REDIS_URL is not used;
 * an app's schema refuses both at once (checkRedisTopology). @fleet/queue (`redisTargetOf`) turns the parsed settings
 * into a connection target.
 */
export const redisEnv = {
  REDIS_URL: env.url(LOCAL_DEFAULTS.redisUrl),
  /** The Sentinel processes to ask for the master, `host:port,...`. Unset: one node at REDIS_URL. */
  REDIS_SENTINELS: hostPortList('the Redis Sentinels'),
  /** The master's name as the sentinels know it (`sentinel monitor <name> ...`). Default `mymaster`. */
  REDIS_SENTINEL_NAME: z.string().min(1).default('mymaster'),
  /** Some nodes of a Redis Cluster, `host:port,...` (any role; the rest are learnt from them). Unset: no cluster. */
  REDIS_CLUSTER_NODES: hostPortList('nodes of the Redis Cluster'),
  /**
   * Password of the Redis nodes (AUTH), when they require one; with Sentinel, of the master and replicas; with a
   * cluster, of every node.
   */
  REDIS_PASSWORD: z.string().min(1).optional(),
  /** Password of the sentinels themselves, when they require one. */
  REDIS_SENTINEL_PASSWORD: z.string().min(1).optional(),
};

/**
 * A refinement for an app's schema that spreads redisEnv: a cluster and sentinels are two different deployments, so
 * naming both is a mistake to report (on REDIS_CLUSTER_NODES) rather than to settle by a precedence.
 */
export function checkRedisTopology(
  config: { REDIS_SENTINELS: readonly unknown[]; REDIS_CLUSTER_NODES: readonly unknown[] },
  context: z.RefinementCtx,
): void {
  if (config.REDIS_SENTINELS.length > 0 && config.REDIS_CLUSTER_NODES.length > 0)
    context.addIssue({
      code: 'custom',
      path: ['REDIS_CLUSTER_NODES'],
      message: 'expected REDIS_CLUSTER_NODES or REDIS_SENTINELS, not both (a Redis Cluster or Sentinel)',
    });
}
