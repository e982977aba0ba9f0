import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listDeliveries, markForRedelivery } from '@fleet/db';
import { openWebhookQueue, redeliverWebhookNow } from '@fleet/queue';
import { capturingLogger, testRedisUrl, waitFor } from '@fleet/testing';
import type { NotifierHarness } from './support.ts';
import { rolloutEvent, startNotifier, startReceiver } from './support.ts';

let harness: NotifierHarness;
let receiver: Awaited<ReturnType<typeof startReceiver>>;
let redis: Redis;
beforeAll(async () => {
  receiver = await startReceiver();
  // A failed attempt waits 10 minutes for its retry: far beyond this test, as late steps of the schedule do.
  harness = await startNotifier({ overrides: { retryDelaysMs: [600_000] } });
  redis = new Redis(testRedisUrl(), { maxRetriesPerRequest: null });
});
afterAll(async () => {
  await redis.quit();
  await harness.close();
  await receiver.close();
});

describe('redelivering a message that waits for its retry', () => {
  it('sends it now, with the same webhook-id, rather than when its delayed job comes due', async () => {
    const { webhook } = await harness.subscribe({ url: `${receiver.base}/later`, events: ['rollout.completed'] });
    receiver.answer('/later', (n) => ({ status: n === 1 ? 500 : 204 }));
    await harness.record([rolloutEvent(randomUUID(), 'rollout.completed')]);
    const failed = await waitFor('the first attempt failed, its retry 10 minutes away', async () => {
      const [d] = (await listDeliveries(harness.db, webhook.id, { limit: 1 })).deliveries;
      return d?.attempts === 1 && d.status === 'pending' ? d : null;
    });
    expect(failed.nextAttemptAt!.getTime() - Date.now()).toBeGreaterThan(60_000);

    // What POST .../redeliver does.
    const queue = openWebhookQueue(redis, harness.prefix, capturingLogger({ service: 'redeliver-test' }).logger);
    try {
      await markForRedelivery(harness.db, webhook.id, failed.id);
      await redeliverWebhookNow(queue, failed.id);
    } finally {
      await queue.close();
    }
    const delivered = await waitFor('delivered by the redelivery', async () => {
      const [d] = (await listDeliveries(harness.db, webhook.id, { limit: 1 })).deliveries;
      return d?.status === 'delivered' ? d : null;
    });
    expect(delivered.attemptLog.map((a) => a.httpStatus)).toEqual([500, 204]);
    expect(receiver.at('/later').map((r) => r.headers['webhook-id'])).toEqual([failed.id, failed.id]);
  });
});
