import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listDeliveries } from '@fleet/db';
import type { PrivateRedis } from '@fleet/testing';
import { startPrivateRedis, waitFor } from '@fleet/testing';
import type { NotifierHarness } from './support.ts';
import { rolloutEvent, startNotifier, startReceiver } from './support.ts';

let redis: PrivateRedis;
let harness: NotifierHarness;
let receiver: Awaited<ReturnType<typeof startReceiver>>;
beforeAll(async () => {
  redis = await startPrivateRedis();
  receiver = await startReceiver();
  // A retry 3 s after the first failure: time to flush Redis while the message waits in its delayed set.
  harness = await startNotifier({
    redisUrl: redis.url,
    overrides: { retryDelaysMs: [3000, 3000], redriveIntervalMs: 500 },
  });
});
afterAll(async () => {
  await harness.close();
  await receiver.close();
  await redis.stop();
});

describe('a flushed Redis', () => {
  it('loses no message waiting for its retry: it is re-driven from Postgres and delivered with the same webhook-id', async () => {
    const { webhook, secret } = await harness.subscribe({
      url: `${receiver.base}/after-flush`,
      events: ['rollout.completed'],
    });
    receiver.verifyWith('/after-flush', secret);
    receiver.answer('/after-flush', (n) => ({ status: n === 1 ? 503 : 200 }));
    await harness.record([rolloutEvent(randomUUID(), 'rollout.completed')]);
    await waitFor('the first attempt failed', () => receiver.at('/after-flush').length === 1);
    const admin = new Redis(redis.url);
    try {
      await waitFor('the retry waiting in Redis', async () => (await admin.keys('*delayed*')).length > 0);
      // What Redis holds of it (the job's hash, the queue's sets): the delivery id, never the secret.
      const held: string[] = [];
      for (const key of await admin.keys('*')) {
        const type = await admin.type(key);
        if (type === 'hash') held.push(JSON.stringify(await admin.hgetall(key)));
        else if (type === 'string') held.push((await admin.get(key)) ?? '');
        else if (type === 'zset') held.push((await admin.zrange(key, 0, -1)).join(' '));
        else if (type === 'list') held.push((await admin.lrange(key, 0, -1)).join(' '));
      }
      expect(held.join('\n')).toContain('deliveryId');
      expect(held.join('\n')).not.toContain(secret.slice(6, 26));
      await admin.flushall();
      expect(await admin.dbsize()).toBe(0);
    } finally {
      admin.disconnect();
    }
    const page = await waitFor('the message delivered after the flush', async () => {
      const p = await listDeliveries(harness.db, webhook.id, { limit: 10 });
      return p.deliveries[0]?.status === 'delivered' ? p : null;
    });
    const got = receiver.at('/after-flush');
    expect(got).toHaveLength(2);
    expect(got.every((r) => r.verified)).toBe(true);
    expect(new Set(got.map((r) => r.headers['webhook-id']))).toEqual(new Set([page.deliveries[0]!.id]));
    expect(page.deliveries[0]!.attempts).toBe(2);
  });
});
