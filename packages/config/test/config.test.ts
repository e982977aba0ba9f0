import { describe, expect, it } from 'vitest';
import { ConfigError } from '@fleet/errors';
import { hostname } from 'node:os';
import {
  checkRedisTopology,
  cmsClientEnv,
  env,
  logEnv,
  parseConfig,
  redactConfig,
  redisEnv,
  storeEnv,
  z,
} from '../src/index.ts';

const schema = z.object({ PORT: env.port(3000), FLAG: env.bool(false), API_KEY: z.string().optional() });

/** The ConfigError `parseConfig(schema, source)` throws. */
function configError(s: z.ZodType, source: Record<string, string>): ConfigError {
  try {
    parseConfig(s, source);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('parseConfig did not throw');
}

describe('parseConfig', () => {
  it('applies defaults and coerces, returning a frozen object', () => {
    const c = parseConfig(schema, { FLAG: 'yes' });
    expect(c).toEqual({ PORT: 3000, FLAG: true });
    expect(Object.isFrozen(c)).toBe(true);
  });

  it('throws a ConfigError naming the variable', () => {
    const error = configError(schema, { PORT: 'x' });
    expect(error.variable).toBe('PORT');
    expect(error.message).toMatch(/^PORT:/);
  });

  it('redacts secret-named keys and URL passwords', () => {
    expect(redactConfig({ API_KEY: 'k', DATABASE_URL: 'postgresql://u:p4ss@h/db', PORT: 1 })).toEqual({
      API_KEY: '[redacted]',
      DATABASE_URL: 'postgresql://u:[redacted]@h/db',
      PORT: 1,
    });
  });

  it('shows the settings about a secret (a duration, a version, a file path), not only the secrets', () => {
    expect(
      redactConfig({
        API_KEY_CACHE_MS: 5000,
        CMS_SIGNATURE_VERSION: '1.0',
        FLEET_ENCRYPTION_KEY_FILE: '/run/secrets/fleet-key',
        FLEET_ADMIN_API_KEY: 'admin-key',
      }),
    ).toEqual({
      API_KEY_CACHE_MS: 5000,
      CMS_SIGNATURE_VERSION: '1.0',
      FLEET_ENCRYPTION_KEY_FILE: '/run/secrets/fleet-key',
      FLEET_ADMIN_API_KEY: '[redacted]',
    });
  });

  it('redacts the encryption keys (their names hold no "secret")', () => {
    const key = Buffer.alloc(32, 7);
    expect(redactConfig({ FLEET_ENCRYPTION_KEY: key, FLEET_ENCRYPTION_PREVIOUS_KEYS: [key] })).toEqual({
      FLEET_ENCRYPTION_KEY: '[redacted]',
      FLEET_ENCRYPTION_PREVIOUS_KEYS: '[redacted]',
    });
  });
});

describe('a ConfigError says what is allowed and shows the value, never a secret', () => {
  const fields = z.object({
    WORKER_CONCURRENCY: env.positiveInt(200),
    PORT: env.port(3000),
    DELAY_MS: env.nonNegativeInt(0),
    REDIS_URL: env.url('redis://127.0.0.1:6379'),
    LOG_LEVEL: env.logLevel(),
    LOG_FORMAT: env.logFormat(),
    FLAG: env.bool(false),
    MODE: z.enum(['GET', 'POST']).default('POST'),
    PREFIX: z
      .string()
      .regex(/^[a-z]+$/)
      .default('fleet'),
    NAME: z.string().min(3).optional(),
    CMS_ACCESS_KEY_SECRET: z.string().min(30).optional(),
  });

  it.each([
    ['WORKER_CONCURRENCY', 'abc', '"abc"', 'expected an integer from 1 up'],
    ['WORKER_CONCURRENCY', '0', '"0"', 'expected an integer from 1 up'],
    ['WORKER_CONCURRENCY', '2.5', '"2.5"', 'expected an integer from 1 up'],
    ['PORT', '70000', '"70000"', 'expected an integer from 0 to 65535'],
    ['DELAY_MS', '-1', '"-1"', 'expected an integer from 0 up'],
    ['REDIS_URL', 'localhost', '"localhost"', 'expected an absolute URL such as redis://127.0.0.1:6379'],
    ['LOG_LEVEL', 'loud', '"loud"', 'expected one of error, warn, info, http, verbose, debug, silly'],
    ['LOG_FORMAT', 'text', '"text"', 'expected json or pretty'],
    ['FLAG', 'on', '"on"', 'expected one of true, false, 1, 0, yes, no'],
    ['MODE', 'PUT', '"PUT"', 'expected one of GET, POST'],
    ['PREFIX', 'A:B', '"A:B"', 'expected text matching /^[a-z]+$/'],
    ['NAME', 'ab', '"ab"', 'expected at least 3 characters'],
  ])('%s=%s: value %s, %s', (variable, value, shown, expected) => {
    const error = configError(fields, { [variable]: value });
    expect(error).toMatchObject({ variable, shownValue: shown, expected, code: 'config_invalid' });
  });

  it('cuts a long value short and masks the password of a URL', () => {
    const long = configError(fields, { NAME: 'x', PREFIX: `${'A'.repeat(100)}` });
    expect(long.shownValue).toBe(JSON.stringify(`${'A'.repeat(60)}...`));
    const url = configError(z.object({ DATABASE_URL: env.url('postgresql://127.0.0.1/fleet') }), {
      DATABASE_URL: 'postgresql://fleet:hunter2@db host/fleet',
    });
    expect(url.shownValue).toBe('"postgresql://fleet:[redacted]@db host/fleet"');
  });

  it('shows only the length of a secret-named variable', () => {
    const error = configError(fields, { CMS_ACCESS_KEY_SECRET: 'short-secret' });
    expect(error.shownValue).toBe('(12 characters, not shown)');
    expect(JSON.stringify(error)).not.toContain('short-secret');
    expect(error.message).not.toContain('short-secret');
  });

  it('names a required variable that is not set', () => {
    const error = configError(z.object({ REQUIRED_ID: z.string() }), {});
    expect(error).toMatchObject({ variable: 'REQUIRED_ID', shownValue: undefined, expected: 'must be set' });
  });
});

describe('env.logFormat and env.noColor', () => {
  const logging = z.object({ LOG_FORMAT: env.logFormat(), NO_COLOR: env.noColor() });

  it('leave the format to the process when unset or empty, and read NO_COLOR as set when non-empty', () => {
    expect(parseConfig(logging, {})).toEqual({ LOG_FORMAT: undefined, NO_COLOR: false });
    expect(parseConfig(logging, { LOG_FORMAT: '', NO_COLOR: '' })).toEqual({ LOG_FORMAT: undefined, NO_COLOR: false });
    expect(parseConfig(logging, { LOG_FORMAT: 'pretty', NO_COLOR: '1' })).toEqual({
      LOG_FORMAT: 'pretty',
      NO_COLOR: true,
    });
  });
});

describe('cmsClientEnv', () => {
  it('defaults to the local simulator with its built-in key pair (cms-client maps it to client options)', () => {
    expect(parseConfig(z.object(cmsClientEnv), {})).toEqual({
      CMS_ENDPOINT: 'http://127.0.0.1:8787/',
      CMS_ACCESS_KEY_ID: 'LTAIsimulatorkey0001',
      CMS_ACCESS_KEY_SECRET: 'simulator-secret-not-for-production',
      CMS_TIMEOUT_MS: 10_000,
      CMS_METHOD: 'POST',
      CMS_SIGNATURE_VERSION: 'v1',
    });
  });
});

describe('redisEnv', () => {
  const redis = z.object(redisEnv);

  it('defaults to one local node with no sentinels and no cluster', () => {
    expect(parseConfig(redis, {})).toEqual({
      REDIS_URL: 'redis://127.0.0.1:6379',
      REDIS_SENTINELS: [],
      REDIS_SENTINEL_NAME: 'mymaster',
      REDIS_CLUSTER_NODES: [],
    });
  });

  it('reads REDIS_CLUSTER_NODES as host:port entries and names the entry at fault', () => {
    expect(parseConfig(redis, { REDIS_CLUSTER_NODES: '10.0.0.1:7000, redis-b:7001' }).REDIS_CLUSTER_NODES).toEqual([
      { host: '10.0.0.1', port: 7000 },
      { host: 'redis-b', port: 7001 },
    ]);
    const error = configError(redis, { REDIS_CLUSTER_NODES: '10.0.0.1:7000,redis-b' });
    expect(error.variable).toBe('REDIS_CLUSTER_NODES');
    expect(error.message).toContain('"redis-b"');
  });

  it('refuses a cluster and sentinels at once, naming REDIS_CLUSTER_NODES; either alone is accepted', () => {
    const checked = z.object(redisEnv).superRefine(checkRedisTopology);
    const error = configError(checked, { REDIS_CLUSTER_NODES: '10.0.0.1:7000', REDIS_SENTINELS: '10.0.0.2:26379' });
    expect(error.variable).toBe('REDIS_CLUSTER_NODES');
    expect(error.message).toContain('REDIS_SENTINELS');
    expect(parseConfig(checked, { REDIS_CLUSTER_NODES: '10.0.0.1:7000' }).REDIS_CLUSTER_NODES).toHaveLength(1);
    expect(parseConfig(checked, { REDIS_SENTINELS: '10.0.0.2:26379' }).REDIS_SENTINELS).toHaveLength(1);
  });

  it('reads REDIS_SENTINELS as host:port entries, spaces and an IPv6 host in brackets allowed', () => {
    const parsed = parseConfig(redis, {
      REDIS_SENTINELS: ' 10.0.0.1:26379, sentinel-b:26380,[::1]:26381',
      REDIS_SENTINEL_NAME: 'fleet',
    });
    expect(parsed.REDIS_SENTINELS).toEqual([
      { host: '10.0.0.1', port: 26379 },
      { host: 'sentinel-b', port: 26380 },
      { host: '::1', port: 26381 },
    ]);
    expect(parsed.REDIS_SENTINEL_NAME).toBe('fleet');
  });

  it('names REDIS_SENTINELS and the entry at fault when one has no port', () => {
    const error = configError(redis, { REDIS_SENTINELS: '10.0.0.1:26379,sentinel-b' });
    expect(error.variable).toBe('REDIS_SENTINELS');
    expect(error.message).toContain('host:port');
    expect(error.message).toContain('"sentinel-b"');
  });

  it('never shows the passwords in the logged config', () => {
    const parsed = parseConfig(redis, { REDIS_PASSWORD: 'node-pass-123', REDIS_SENTINEL_PASSWORD: 'sent-pass-456' });
    const logged = JSON.stringify(redactConfig(parsed));
    expect(logged).not.toContain('node-pass-123');
    expect(logged).not.toContain('sent-pass-456');
  });
});

describe('storeEnv, logEnv and env.processId, the blocks the worker, reconciler and notifier share', () => {
  const shared = z.object({ ...storeEnv, ...logEnv, WORKER_ID: env.processId() }).superRefine(checkRedisTopology);

  it('default to the local Postgres and Redis, the prefix fleet, info logs and this host and process', () => {
    const parsed = parseConfig(shared, {});
    expect(parsed.LOG_FORMAT).toBeUndefined();
    expect(parsed).toMatchObject({
      DATABASE_URL: 'postgresql://postgres@127.0.0.1:5432/fleet',
      REDIS_URL: 'redis://127.0.0.1:6379',
      QUEUE_PREFIX: 'fleet',
      LOG_LEVEL: 'info',
      NO_COLOR: false,
      WORKER_ID: `${hostname()}-${process.pid}`,
    });
  });

  it('refuse a prefix with other characters than letters, digits, _ and -, and an empty process id', () => {
    expect(configError(shared, { QUEUE_PREFIX: 'fleet:a' }).variable).toBe('QUEUE_PREFIX');
    expect(configError(shared, { WORKER_ID: '' }).variable).toBe('WORKER_ID');
    expect(configError(shared, { LOG_FORMAT: 'xml' }).variable).toBe('LOG_FORMAT');
  });
});
