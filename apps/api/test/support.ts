import type { AddressInfo } from 'node:net';
import type { Express } from 'express';
import type { Server } from 'node:http';
import type { Redis } from 'ioredis';
import type { CmsClient } from '@fleet/cms-client';
import type { AccountClients, EndpointAllowlist } from '@fleet/accounts';
import { createApiKey, createDatabase, createEventListener, generateApiKey } from '@fleet/db';
import type { ApiRole, Database } from '@fleet/db';
import { createMetricsRegistry } from '@fleet/metrics';
import type { SecretBox } from '@fleet/secrets';
import { secretBoxFromConfig } from '@fleet/secrets';
import { createRedisConnection } from '@fleet/queue';
import { capturingLogger, createTestDatabase, deleteKeysWithPrefix, testRedisUrl, uniquePrefix } from '@fleet/testing';
import type { TestDatabase } from '@fleet/testing';
import { createApp } from '../src/app.ts';
import type { BackgroundEnqueues } from '../src/background-enqueues.ts';
import { createBackgroundEnqueues } from '../src/background-enqueues.ts';
import { startEnqueueThread } from '../src/enqueue-thread/enqueue-thread.ts';
import { answerClientErrorsWithProblems } from '../src/http/client-error.ts';
import { createQueueBoard } from '../src/queue-board.ts';
import type { RolloutStreamHub } from '../src/event-stream/rollout-stream-hub.ts';
import { createRolloutStreamHub } from '../src/event-stream/rollout-stream-hub.ts';
import { ROLLOUT_EVENTS_CHANNEL, readStreamEventsAfter } from '../src/event-stream/stream-events.ts';

export type ApiResponse = {
  status: number;
  headers: Headers;
  // The parsed JSON the server sent: its shape is what the tests assert (toEqual, toMatchObject), so it is not typed
  // ahead of them; `unknown` would need a cast at each of the hundreds of reads.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  body: any;
};

export type ApiHarness = {
  url: string;
  /** The Express app itself (to read its registered routes). */
  app: Express;
  /** Where its rollouts' enqueues run (drained by close()). */
  enqueues: BackgroundEnqueues;
  /** Its event streams (stopped by close()), with the one listen connection they share. */
  eventStreams: RolloutStreamHub;
  /** pg_stat_activity.pid of its listen connection, once a stream has opened it. */
  listenerPid(): number | null;
  db: Database;
  redis: Redis;
  prefix: string;
  logLines: string[];
  /** An admin key for every account, made for this harness. */
  adminKey: string;
  /** A request with the harness's admin key, unless `headers` carries its own `authorization`. */
  request(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<ApiResponse>;
  /** A request with `key` as Bearer key, or with no Authorization header when `key` is null. */
  requestAs(
    key: string | null,
    method: string,
    path: string,
    body?: unknown,
    headers?: Record<string, string>,
  ): Promise<ApiResponse>;
  /** Makes a key straight in the database (not through the API) and returns it. */
  createKey(role: ApiRole, accounts: readonly string[] | 'all', name?: string): Promise<{ id: string; key: string }>;
  close(): Promise<void>;
};

export type StartApiOptions = {
  redisUrl?: string;
  /** A database URL to use instead of a fresh test database (e.g. one nobody listens on). No admin key is stored. */
  databaseUrl?: string;
  maxInstancesPerRollout?: number;
  bodyLimitBytes?: number;
  /** Default: effectively off (1,000,000 per minute), so tests that are not about it never meet it. */
  rateLimit?: { limit: number; windowMs?: number };
  /** Run a second API process over the same database and Redis prefix as this one (as several processes do). */
  sharedWith?: ApiHarness;
  /** ENQUEUE_WAIT_MS of this API. Default: a POST waits for its whole enqueue. */
  enqueueWaitMs?: number;
  /** Event streams' comment heartbeat, ms (default 15,000) and progress tick, ms (default 1000). */
  streamHeartbeatMs?: number;
  streamProgressIntervalMs?: number;
  /** How long a stream ticket lasts, ms (default 60,000). */
  streamTicketTtlMs?: number;
  /** METRICS_TOKEN of this API. Default: none (anyone may scrape /metrics). */
  metricsToken?: string;
  /** The CloudMonitor client of a dry run's pre-check. Default: none (a pre-check answers 503). */
  cms?: CmsClient;
  /** Each account's client for the pre-check, made over the harness's database. Default: `cms` for every account. */
  accountClients?: (db: Database) => Pick<AccountClients, 'current'>;
  /** The API's secret box (FLEET_ENCRYPTION_KEY). Default: one under TEST_ENCRYPTION_KEY; null: no key set. */
  secretBox?: SecretBox | null;
  /** WEBHOOK_ALLOW_PRIVATE_NETWORKS of this API. Default false. */
  allowPrivateNetworks?: boolean;
  /**
   * Build new rollouts' jobs in an enqueue thread as main.ts does, its Redis at this URL (default the API's). Default:
   * no thread, on the event loop.
   */
  enqueueThread?: { redisUrl?: string };
  /** CMS_ENDPOINT_ALLOWLIST. Default: the product's default. */
  endpointAllowlist?: EndpointAllowlist;
  /** The console's build folder (CONSOLE_DIR). Default: none (its paths answer 503 console_not_built). */
  consoleDir?: string;
  /** API_KEY_CACHE_MS of this API. Default 0: every request looks its key up. */
  apiKeyCacheMs?: number;
};

/** The FLEET_ENCRYPTION_KEY of test APIs (32 bytes); testSecretBox() opens what they sealed. */
const TEST_ENCRYPTION_KEY = Buffer.alloc(32, 7);

export function testSecretBox(): SecretBox {
  return secretBoxFromConfig({ FLEET_ENCRYPTION_KEY: TEST_ENCRYPTION_KEY })!;
}

/** The real API on a port of its own, over a private database and a private BullMQ prefix. */
export async function startApi(options: StartApiOptions = {}): Promise<ApiHarness> {
  const shared = options.sharedWith as (ApiHarness & { dbUrl?: string }) | undefined;
  const testDb: TestDatabase | null = shared || options.databaseUrl ? null : await createTestDatabase();
  const dbUrl = shared?.dbUrl ?? options.databaseUrl ?? testDb!.url;
  const { logger, lines: logLines } = capturingLogger({ service: 'api-test' });
  const db = createDatabase({ url: dbUrl, poolMax: 5 });
  const redis = createRedisConnection(options.redisUrl ?? testRedisUrl(), 'producer', logger);
  await new Promise<void>((resolve) => {
    if (redis.status === 'ready') resolve();
    redis.once('ready', () => resolve());
    redis.once('error', () => resolve());
  });
  const prefix = shared?.prefix ?? uniquePrefix('api');
  const enqueues = createBackgroundEnqueues(
    options.enqueueWaitMs === undefined ? {} : { waitMs: options.enqueueWaitMs },
  );
  const queueBoard = createQueueBoard({ db, redis, logger, queuePrefix: prefix });
  const enqueueThread = options.enqueueThread
    ? startEnqueueThread(
        {
          databaseUrl: dbUrl,
          redisTarget: { kind: 'node', url: options.enqueueThread.redisUrl ?? options.redisUrl ?? testRedisUrl() },
          queuePrefix: prefix,
          log: { level: 'error', format: 'json' },
        },
        logger,
      )
    : undefined;
  let listener: ReturnType<typeof createEventListener> | null = null;
  const eventStreams = createRolloutStreamHub({
    db,
    redis,
    logger,
    queuePrefix: prefix,
    readEventsAfter: readStreamEventsAfter(db),
    ...(options.streamProgressIntervalMs === undefined ? {} : { progressIntervalMs: options.streamProgressIntervalMs }),
    listen: (handlers) => {
      listener = createEventListener({
        url: dbUrl,
        channel: ROLLOUT_EVENTS_CHANNEL,
        applicationName: 'fleet-api-test:events',
        reconnectDelayMs: 50,
        ...handlers,
      });
      return listener;
    },
  });
  const app = createApp({
    enqueues,
    ...(enqueueThread ? { enqueueThread } : {}),
    queueBoard,
    eventStreams,
    ...(options.streamHeartbeatMs === undefined ? {} : { streamHeartbeatMs: options.streamHeartbeatMs }),
    ...(options.streamTicketTtlMs === undefined ? {} : { streamTicketTtlMs: options.streamTicketTtlMs }),
    db,
    redis,
    logger,
    queuePrefix: prefix,
    maxInstancesPerRollout: options.maxInstancesPerRollout ?? 100_000,
    bodyLimitBytes: options.bodyLimitBytes ?? 8 * 1024 * 1024,
    rateLimit: options.rateLimit ?? { limit: 1_000_000 },
    ...(options.metricsToken ? { metrics: { registry: createMetricsRegistry(), token: options.metricsToken } } : {}),
    ...(options.cms ? { cms: options.cms } : {}),
    ...(options.accountClients ? { accountClients: options.accountClients(db) } : {}),
    secretBox: options.secretBox === null ? undefined : (options.secretBox ?? testSecretBox()),
    webhookUrlPolicy: { allowPrivateNetworks: options.allowPrivateNetworks ?? false },
    ...(options.endpointAllowlist ? { endpointAllowlist: options.endpointAllowlist } : {}),
    ...(options.consoleDir ? { consoleDir: options.consoleDir } : {}),
    ...(options.apiKeyCacheMs === undefined ? {} : { apiKeyCacheMs: options.apiKeyCacheMs }),
  });
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  answerClientErrorsWithProblems(server);
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const createKey: ApiHarness['createKey'] = async (role, accounts, name = `test ${role}`) => {
    const { record, key } = await createApiKey(db, {
      name,
      role,
      userIds: accounts === 'all' ? [] : accounts,
      allAccounts: accounts === 'all',
      createdById: null,
    });
    return { id: record.id, key };
  };
  const adminKey =
    shared?.adminKey ?? (options.databaseUrl ? generateApiKey() : (await createKey('admin', 'all', 'test admin')).key);
  const requestAs: ApiHarness['requestAs'] = async (key, method, path, body, headers = {}) => {
    const init: RequestInit = {
      method,
      headers: {
        ...(key === null ? {} : { authorization: `Bearer ${key}` }),
        ...(body !== undefined && typeof body !== 'string' ? { 'content-type': 'application/json' } : {}),
        ...headers,
      },
    };
    if (body !== undefined) init.body = typeof body === 'string' ? body : JSON.stringify(body);
    const res = await fetch(url + path, init);
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      /* not JSON: keep the text */
    }
    return { status: res.status, headers: res.headers, body: parsed };
  };
  const harness: ApiHarness & { dbUrl: string } = {
    url,
    app,
    enqueues,
    eventStreams,
    listenerPid: () => listener?.backendPid() ?? null,
    dbUrl,
    db,
    redis,
    prefix,
    logLines,
    adminKey,
    request: (method, path, body, headers = {}) =>
      requestAs(
        Object.keys(headers).some((h) => h.toLowerCase() === 'authorization') ? null : adminKey,
        method,
        path,
        body,
        headers,
      ),
    requestAs,
    createKey,
    async close() {
      // Hostile requests can leave sockets half-open; a test run must not wait on them to finish.
      const streamsStopped = eventStreams.stop();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
      await streamsStopped;
      // The thread finishes what it was asked (or is terminated after its grace), which ends the enqueues waiting on it.
      await Promise.all([enqueues.drain(), enqueueThread?.stop()]);
      await queueBoard.close();
      if (!shared) await deleteKeysWithPrefix(prefix);
      if (redis.status === 'ready') await redis.quit();
      else redis.disconnect();
      await db.close();
      await testDb?.drop();
    },
  };
  return harness;
}

export const USER_ID = '1234567898765432';
