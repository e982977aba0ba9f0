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
  // A failed attempt waits 10 minutes for its retry: far beyond this test, as late steps of the schedule do. An
  // attempt may wait 10 s for its answer: the in-flight case holds one open while it asks for a redelivery.
  harness = await startNotifier({ overrides: { retryDelaysMs: [600_000], timeoutMs: 10_000 } });
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

describe('redelivering a message while an attempt of it is in flight', () => {
  it('is refused (in_flight) and changes nothing; the attempt is recorded once, and a redelivery after it sends again', async () => {
    const { webhook } = await harness.subscribe({ url: `${receiver.base}/slow`, events: ['rollout.paused'] });
    let arrived!: () => void;
    const inFlight = new Promise<void>((resolve) => (arrived = resolve));
    let answer!: () => void;
    const answered = new Promise<void>((resolve) => (answer = resolve));
    receiver.answer('/slow', async (n) => {
      if (n === 1) {
        arrived();
        await answered;
      }
      return { status: 204 };
    });
    await harness.record([rolloutEvent(randomUUID(), 'rollout.paused')]);
    await inFlight;
    const [sending] = (await listDeliveries(harness.db, webhook.id, { limit: 1 })).deliveries;
    const refused = await markForRedelivery(harness.db, webhook.id, sending!.id);
    expect(refused).toMatchObject({ kind: 'in_flight' });
    answer();
    const delivered = await waitFor('the attempt in flight recorded', async () => {
      const [d] = (await listDeliveries(harness.db, webhook.id, { limit: 1 })).deliveries;
      return d?.status === 'delivered' ? d : null;
    });
    expect(delivered.attemptLog.map((a) => [a.attemptNo, a.httpStatus])).toEqual([[1, 204]]);
    expect(receiver.at('/slow')).toHaveLength(1);

    // Once it is recorded, a redelivery is taken; the re-drive sends it (no API here to enqueue it at once).
    expect(await markForRedelivery(harness.db, webhook.id, sending!.id)).toMatchObject({ kind: 'marked' });
    await waitFor('sent again', () => receiver.at('/slow').length === 2);
  });
});
