import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { Writable } from 'node:stream';
import type { Redis } from 'ioredis';
import { createDatabase } from '@fleet/db';
import type { Database } from '@fleet/db';
import { createLogger } from '@fleet/logger';
import { createRedisConnection } from '@fleet/queue';
import { createTestDatabase, deleteKeysWithPrefix, testRedisUrl, uniquePrefix } from '@fleet/testing';
import type { TestDatabase } from '@fleet/testing';
import { createApp } from '../src/app.ts';

export type ApiHarness = {
  url: string;
  db: Database;
  redis: Redis;
  prefix: string;
  logLines: string[];
  request(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<{ status: number; headers: Headers; body: any }>;
  close(): Promise<void>;
};

/** The real API on a port of its own, over a private database and a private BullMQ prefix. */
export async function startApi(options: { redisUrl?: string; maxInstancesPerRollout?: number } = {}): Promise<ApiHarness> {
  const testDb: TestDatabase = await createTestDatabase();
  const logLines: string[] = [];
  const logger = createLogger({
    service: 'api-test',
    level: 'debug',
    stream: new Writable({
      write(chunk, _enc, cb) {
        logLines.push(String(chunk));
        cb();
      },
    }),
  });
  const db = createDatabase({ url: testDb.url, poolMax: 5 });
  const redis = createRedisConnection(options.redisUrl ?? testRedisUrl(), 'producer', logger);
  await new Promise<void>((resolve) => {
    if (redis.status === 'ready') resolve();
    redis.once('ready', () => resolve());
    redis.once('error', () => resolve());
  });
  const prefix = uniquePrefix('api');
  const app = createApp({ db, redis, logger, queuePrefix: prefix, maxInstancesPerRollout: options.maxInstancesPerRollout ?? 100_000, bodyLimitBytes: 8 * 1024 * 1024 });
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    db,
    redis,
    prefix,
    logLines,
    async request(method, path, body, headers = {}) {
      const init: RequestInit = { method, headers: { ...(body !== undefined && typeof body !== 'string' ? { 'content-type': 'application/json' } : {}), ...headers } };
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
    },
    async close() {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await deleteKeysWithPrefix(prefix);
      if (redis.status === 'ready') await redis.quit();
      else redis.disconnect();
      await db.$disconnect();
      await testDb.drop();
    },
  };
}

export function instanceIds(n: number, prefix = 'i-bp'): string[] {
  return Array.from({ length: n }, (_, i) => `${prefix}${i.toString(36).padStart(6, '0')}`);
}

export const USER_ID = '1234567898765432';
