import { connect } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createTestDatabase,
  deleteKeysWithPrefix,
  freePort,
  spawnApp,
  testRedisUrl,
  uniquePrefix,
  waitFor,
  waitForHttpOk,
  type TestDatabase,
} from '@fleet/testing';

const ADMIN_KEY = 'flt_shutdown-test-admin-key-0123456789abcdef';

let database: TestDatabase;
const prefix = uniquePrefix('api-shutdown');
beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(async () => {
  await deleteKeysWithPrefix(prefix);
  await database?.drop();
});

describe('api main.ts', () => {
  // As `npm start` and the bench launch it (node --import tsx, and a second --import of a .ts file): a thread that
  // inherited those flags failed to load, and every rollout waited for the reconciler (none runs here).
  it('enqueues a new rollout through its enqueue thread, whatever it was launched with, and exits 0 on SIGTERM', async () => {
    const port = await freePort();
    const api = spawnApp(
      'api',
      {
        PORT: String(port),
        DATABASE_URL: database.url,
        REDIS_URL: testRedisUrl(),
        QUEUE_PREFIX: prefix,
        FLEET_ADMIN_API_KEY: ADMIN_KEY,
        LOG_FORMAT: 'json',
      },
      { nodeArgs: ['--import', fileURLToPath(new URL('./fixtures/noop-import.ts', import.meta.url))] },
    );
    try {
      await waitForHttpOk('the api to answer /readyz 200', `http://127.0.0.1:${port}/readyz`);
      const res = await fetch(`http://127.0.0.1:${port}/v1/rollouts`, {
        method: 'POST',
        headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify({ userId: '1234567898765432', instanceIds: ['i-thread1', 'i-thread2'] }),
      });
      const created = (await res.json()) as { id: string };
      expect(res.status, JSON.stringify(created)).toBe(202);
      // No reconciler runs here: only the thread can enqueue it.
      await waitFor('the rollout enqueued', async () => {
        const get = await fetch(`http://127.0.0.1:${port}/v1/rollouts/${created.id}`, {
          headers: { authorization: `Bearer ${ADMIN_KEY}` },
        });
        return ((await get.json()) as { enqueued: boolean }).enqueued;
      });
      expect(api.output()).not.toContain('the enqueue thread failed');
      api.child.kill('SIGTERM');
      expect(await api.exited, api.output()).toBe(0);
    } finally {
      await api.kill();
    }
  });
});

describe('api main.ts on SIGTERM', () => {
  it('answers the request in flight on a kept-alive connection, closes that connection and exits 0 well before its 10 s deadline', async () => {
    const port = await freePort();
    const api = spawnApp('api', {
      PORT: String(port),
      DATABASE_URL: database.url,
      REDIS_URL: testRedisUrl(),
      QUEUE_PREFIX: prefix,
      FLEET_ADMIN_API_KEY: ADMIN_KEY,
      LOG_FORMAT: 'json',
    });
    try {
      await waitForHttpOk('the api to answer /readyz 200', `http://127.0.0.1:${port}/readyz`);

      // A keep-alive request whose body is still arriving when the signal comes: in flight, past authentication.
      const body = JSON.stringify({ userId: 'x' });
      const socket = connect(port, '127.0.0.1');
      let answer = '';
      socket.on('data', (chunk: Buffer) => (answer += chunk.toString()));
      const socketClosed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
      socket.write(
        `POST /v1/rollouts HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n` +
          `Authorization: Bearer ${ADMIN_KEY}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n` +
          body.slice(0, 5),
      );
      await new Promise((resolve) => setTimeout(resolve, 200));
      api.child.kill('SIGTERM');
      await waitFor('the api to log that it stops', () => api.output().includes('stopping api'));
      socket.write(body.slice(5));

      await socketClosed;
      expect(answer).toMatch(/^HTTP\/1\.1 4\d\d /);
      expect(answer.toLowerCase()).toContain('connection: close');
      expect(await api.exited, api.output()).toBe(0);
      expect(api.output()).not.toContain('shutdown deadline passed');
    } finally {
      await api.kill();
    }
  });
});
