import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findWebhook, listDeliveries, listEvents } from '@fleet/db';
import { waitFor } from '@fleet/testing';
import type { NotifierHarness } from './support.ts';
import { rolloutEvent, startNotifier, startReceiver } from './support.ts';

let harness: NotifierHarness;
let receiver: Awaited<ReturnType<typeof startReceiver>>;
beforeAll(async () => {
  receiver = await startReceiver();
  // WEBHOOK_DISABLE_AFTER_MS scaled down from 5 days to 500 ms, with retries every 200 ms that keep failing.
  harness = await startNotifier({ overrides: { disableAfterMs: 500, retryDelaysMs: [200, 200, 200, 200, 200, 200] } });
});
afterAll(async () => {
  await harness.close();
  await receiver.close();
});

describe('a subscription that keeps failing', () => {
  it('is disabled once its failures have run for WEBHOOK_DISABLE_AFTER_MS, with webhook.disabled (failing)', async () => {
    const { webhook } = await harness.subscribe({ url: `${receiver.base}/down`, events: ['rollout.completed'] });
    receiver.answer('/down', () => ({ status: 503 }));
    await harness.record([rolloutEvent(randomUUID(), 'rollout.completed')]);
    await waitFor('the subscription disabled', async () => !(await findWebhook(harness.db, webhook.id))!.enabled);
    const disabledWebhook = (await findWebhook(harness.db, webhook.id))!;
    expect(disabledWebhook.disabledReason).toBe('failing');
    expect(disabledWebhook.failingSince).not.toBeNull();
    const { events } = await listEvents(harness.db, { type: 'webhook.disabled', limit: 10 });
    expect(events.map((e) => e.data)).toEqual([expect.objectContaining({ webhookId: webhook.id, reason: 'failing' })]);
    const [delivery] = (await listDeliveries(harness.db, webhook.id, { limit: 1 })).deliveries;
    expect(delivery!.status).toBe('failed');
    expect(delivery!.attempts).toBeGreaterThan(1);
    expect(delivery!.attemptLog.every((a) => a.httpStatus === 503)).toBe(true);
  });
});
