/**
 * The events listen connection: it hears NOTIFY from other sessions, LISTENs again after its backend is terminated
 * (telling its owner each time, to catch up), and stop() ends it for good.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, waitFor } from '@fleet/testing';
import type { TestDatabase } from '@fleet/testing';
import { createEventListener } from '../src/index.ts';

let testDb: TestDatabase;
let writer: pg.Client;

beforeAll(async () => {
  testDb = await createTestDatabase();
  writer = new pg.Client({ connectionString: testDb.url });
  await writer.connect();
});
afterAll(async () => {
  await writer?.end();
  await testDb?.drop();
});

const notify = (payload: string) => writer.query(`SELECT pg_notify('test_events', $1)`, [payload]);

describe('createEventListener', () => {
  it('hears notices of other sessions, listens again after its backend is terminated, and stops for good', async () => {
    const heard: string[] = [];
    const lost: Error[] = [];
    let listens = 0;
    const listener = createEventListener({
      url: testDb.url,
      channel: 'test_events',
      applicationName: 'listener-test',
      reconnectDelayMs: 20,
      onNotification: (payload) => heard.push(payload),
      onListening: () => listens++,
      onConnectionLost: (error) => lost.push(error),
    });
    await listener.start();
    expect(listener.isListening()).toBe(true);
    expect(listens).toBe(1);
    await notify('first');
    await waitFor('the first notice', () => heard.includes('first'), { timeoutMs: 5000 });

    const pid = listener.backendPid();
    expect(pid).toEqual(expect.any(Number));
    await writer.query('SELECT pg_terminate_backend($1)', [pid]);
    await waitFor('listening again', () => listens === 2, { timeoutMs: 10_000 });
    expect(lost.length).toBeGreaterThanOrEqual(1);
    expect(listener.backendPid()).not.toBe(pid);
    await notify('second');
    await waitFor('the second notice', () => heard.includes('second'), { timeoutMs: 5000 });

    await listener.stop();
    await listener.stop();
    expect(listener.isListening()).toBe(false);
    const { rows } = await writer.query(
      `SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'listener-test'`,
    );
    expect(rows[0].n).toBe(0);
    await notify('third');
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(heard).toEqual(['first', 'second']);
  });

  it('refuses a channel that is not an identifier', () => {
    expect(() =>
      createEventListener({ url: testDb.url, channel: 'x; DROP TABLE rollout', onNotification: () => undefined }),
    ).toThrow(/not a channel name/);
  });
});
