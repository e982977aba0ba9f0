import { createHmac, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  findWebhook,
  listDeliveries,
  listEvents,
  markForRedelivery,
  recordWebhookTest,
  rotateWebhookSecret,
} from '@fleet/db';
import { waitFor } from '@fleet/testing';
import type { NotifierHarness } from './support.ts';
import { rolloutEvent, startNotifier, startReceiver } from './support.ts';

const ROLLOUT_EVENTS = ['rollout.wave_started', 'rollout.paused', 'rollout.aborted', 'rollout.completed'];

let harness: NotifierHarness;
let receiver: Awaited<ReturnType<typeof startReceiver>>;
beforeAll(async () => {
  receiver = await startReceiver();
  harness = await startNotifier();
});
afterAll(async () => {
  await harness.close();
  await receiver.close();
});

describe('standard webhooks', () => {
  it('delivers every event of a rollout once, in event order, each verified by the standardwebhooks package', async () => {
    const { webhook, secret } = await harness.subscribe({ url: `${receiver.base}/ordered`, events: ROLLOUT_EVENTS });
    receiver.verifyWith('/ordered', secret);
    const rolloutId = randomUUID();
    const ids = await harness.record([
      rolloutEvent(rolloutId, 'rollout.wave_started'),
      rolloutEvent(rolloutId, 'rollout.paused'),
      rolloutEvent(rolloutId, 'rollout.completed'),
    ]);
    await waitFor('three deliveries', () => receiver.at('/ordered').length >= 3);
    const got = receiver.at('/ordered');
    expect(got.every((r) => r.verified)).toBe(true);
    const bodies = got.map((r) => JSON.parse(r.body) as { type: string; data: { eventId: string; rolloutId: string } });
    expect(bodies.map((b) => b.type)).toEqual(['rollout.wave_started', 'rollout.paused', 'rollout.completed']);
    expect(bodies.map((b) => b.data.eventId)).toEqual(ids.map(String));
    expect(new Set(got.map((r) => r.headers['webhook-id'])).size).toBe(3);
    const log = await waitFor('three delivered in the log', async () => {
      const page = await listDeliveries(harness.db, webhook.id, { limit: 10 });
      return page.deliveries.every((d) => d.status === 'delivered') && page.deliveries.length === 3 ? page : null;
    });
    expect(log.deliveries.map((d) => d.id).sort()).toEqual(got.map((r) => r.headers['webhook-id']).sort());
  });

  it('a receiver that fails twice and then succeeds gets the message three times with one webhook-id', async () => {
    const { webhook, secret } = await harness.subscribe({ url: `${receiver.base}/flaky`, events: ROLLOUT_EVENTS });
    receiver.verifyWith('/flaky', secret);
    receiver.answer('/flaky', (n) => ({ status: n <= 2 ? 500 : 204 }));
    await harness.record([rolloutEvent(randomUUID(), 'rollout.completed')]);
    const page = await waitFor('the message delivered', async () => {
      const p = await listDeliveries(harness.db, webhook.id, { limit: 10 });
      return p.deliveries[0]?.status === 'delivered' ? p : null;
    });
    const got = receiver.at('/flaky');
    expect(got).toHaveLength(3);
    expect(got.every((r) => r.verified)).toBe(true);
    expect(new Set(got.map((r) => r.headers['webhook-id']))).toEqual(new Set([page.deliveries[0]!.id]));
    expect(page.deliveries[0]!.attemptLog.map((a) => [a.attemptNo, a.httpStatus, a.outcome])).toEqual([
      [1, 500, 'http_error'],
      [2, 500, 'http_error'],
      [3, 204, 'delivered'],
    ]);
    expect(page.deliveries[0]!.attemptLog[0]!.nextRetryAt).not.toBeNull();
    expect(page.deliveries[0]!.attemptLog[0]!.responseExcerpt).toBe('answer 1');
    // A success ends the run of failures.
    expect((await findWebhook(harness.db, webhook.id))!.failingSince).toBeNull();
  });

  it('410 Gone disables the subscription with a webhook.disabled event by the notifier, and nothing more is sent', async () => {
    const { webhook } = await harness.subscribe({ url: `${receiver.base}/gone`, events: ROLLOUT_EVENTS });
    receiver.answer('/gone', () => ({ status: 410 }));
    await harness.record([rolloutEvent(randomUUID(), 'rollout.completed')]);
    await waitFor('the subscription disabled', async () => !(await findWebhook(harness.db, webhook.id))!.enabled);
    expect((await findWebhook(harness.db, webhook.id))!.disabledReason).toBe('gone');
    const { events } = await listEvents(harness.db, { type: 'webhook.disabled', limit: 100 });
    const disabled = events.find((e) => (e.data as { webhookId: string }).webhookId === webhook.id);
    expect(disabled).toMatchObject({ actor: { kind: 'notifier', id: 'notifier-test' }, data: { reason: 'gone' } });
    await harness.record([rolloutEvent(randomUUID(), 'rollout.completed')]);
    // The dispatcher makes no delivery for a disabled subscription; the one 410 stays the only request.
    await new Promise((r) => setTimeout(r, 800));
    expect(receiver.at('/gone')).toHaveLength(1);
    expect((await listDeliveries(harness.db, webhook.id, { limit: 10 })).deliveries).toHaveLength(1);
  });

  it('does not follow a redirect to a metadata address: the attempt is logged as a redirect and retried', async () => {
    const { webhook } = await harness.subscribe({ url: `${receiver.base}/moved`, events: ROLLOUT_EVENTS });
    receiver.answer('/moved', () => ({
      status: 302,
      headers: { location: 'http://169.254.169.254/latest/meta-data/' },
    }));
    await harness.record([rolloutEvent(randomUUID(), 'rollout.aborted')]);
    const attempt = await waitFor('the first attempt logged', async () => {
      const p = await listDeliveries(harness.db, webhook.id, { limit: 1 });
      return p.deliveries[0]?.attemptLog[0];
    });
    expect(attempt).toMatchObject({
      httpStatus: 302,
      outcome: 'redirect',
      responseExcerpt: 'redirect to http://169.254.169.254/latest/meta-data/ not followed',
    });
    expect(attempt.nextRetryAt).not.toBeNull();
  });

  it('after a rotation signs with both secrets: a receiver holding the old one and one holding the new both verify', async () => {
    const { webhook, secret: old } = await harness.subscribe({
      url: `${receiver.base}/rotated`,
      events: ['webhook.test'],
    });
    const fresh = `whsec_${Buffer.alloc(32, 3).toString('base64')}`;
    const rotated = await rotateWebhookSecret(harness.db, webhook, {
      secretSealed: harness.box.seal(fresh, `webhook:${webhook.id}:secret`),
      previousSecretUntil: new Date(Date.now() + 86_400_000),
    });
    expect(rotated).not.toBeNull();
    receiver.verifyWith('/rotated', old);
    await recordWebhookTest(harness.db, rotated!);
    await waitFor('the test message', () => receiver.at('/rotated').length >= 1);
    const [message] = receiver.at('/rotated');
    expect(message!.headers['webhook-signature']!.split(' ')).toHaveLength(2);
    expect(message!.verified).toBe(true);
    receiver.verifyWith('/rotated', fresh);
    const { Webhook } = await import('standardwebhooks');
    expect(() => new Webhook(fresh).verify(message!.body, message!.headers)).not.toThrow();
  });

  it('a redelivered message arrives again with the same webhook-id, re-driven from Postgres', async () => {
    const { webhook, secret } = await harness.subscribe({ url: `${receiver.base}/again`, events: ROLLOUT_EVENTS });
    receiver.verifyWith('/again', secret);
    await harness.record([rolloutEvent(randomUUID(), 'rollout.completed')]);
    const first = await waitFor('delivered once', async () => {
      const p = await listDeliveries(harness.db, webhook.id, { limit: 1 });
      return p.deliveries[0]?.status === 'delivered' ? p.deliveries[0] : null;
    });
    expect(await markForRedelivery(harness.db, webhook.id, first.id)).toMatchObject({
      kind: 'marked',
      delivery: { status: 'pending' },
    });
    await waitFor('delivered twice', () => receiver.at('/again').length >= 2);
    const got = receiver.at('/again');
    expect(got.map((r) => r.headers['webhook-id'])).toEqual([first.id, first.id]);
    expect(got.every((r) => r.verified)).toBe(true);
  });

  it('sends webhook.test to the subscription tested and to no other', async () => {
    const tested = await harness.subscribe({ url: `${receiver.base}/tested`, events: ['*'] });
    await harness.subscribe({ url: `${receiver.base}/bystander`, events: ['*'] });
    await recordWebhookTest(harness.db, tested.webhook);
    await waitFor('the test message', () => receiver.at('/tested').some((r) => r.body.includes('webhook.test')));
    await new Promise((r) => setTimeout(r, 500));
    expect(receiver.at('/bystander').some((r) => r.body.includes('webhook.test'))).toBe(false);
  });
});

describe('chat notifications', () => {
  it('slack: an incoming-webhook { text } saying what happened, the counts and a link to the rollout', async () => {
    await harness.subscribe({ url: `${receiver.base}/slack`, kind: 'slack', events: ROLLOUT_EVENTS });
    const rolloutId = randomUUID();
    await harness.record([rolloutEvent(rolloutId, 'rollout.completed')]);
    await waitFor('the slack message', () => receiver.at('/slack').length >= 1);
    const body = JSON.parse(receiver.at('/slack')[0]!.body) as Record<string, unknown>;
    expect(Object.keys(body)).toEqual(['text']);
    expect(body.text).toContain(`Rollout ${rolloutId} completed`);
    expect(body.text).toContain('Instances: 9 succeeded, 1 failed of 10');
    expect(body.text).toContain(`<https://fleet.example.com/v1/rollouts/${rolloutId}|Open the rollout>`);
  });

  it('dingtalk: a markdown robot message, with the timestamp and sign DingTalk checks (computed here independently)', async () => {
    const robotSecret = 'SECdingtalk0123456789abcdef';
    await harness.subscribe({
      url: `${receiver.base}/robot/send?access_token=tok123`,
      kind: 'dingtalk',
      robotSecret,
      events: ROLLOUT_EVENTS,
    });
    const rolloutId = randomUUID();
    await harness.record([rolloutEvent(rolloutId, 'rollout.paused')]);
    await waitFor('the robot message', () => receiver.at('/robot/send').length >= 1);
    const [message] = receiver.at('/robot/send');
    const timestamp = message!.url.searchParams.get('timestamp')!;
    expect(message!.url.searchParams.get('access_token')).toBe('tok123');
    expect(Math.abs(Number(timestamp) - Date.now())).toBeLessThan(60_000);
    // URLSearchParams has already URL-decoded `sign`: compare it with the plain base64 digest.
    const expected = createHmac('sha256', robotSecret).update(`${timestamp}\n${robotSecret}`).digest('base64');
    expect(message!.url.searchParams.get('sign')).toBe(expected);
    const body = JSON.parse(message!.body) as { msgtype: string; markdown: { title: string; text: string } };
    expect(body.msgtype).toBe('markdown');
    expect(body.markdown.title).toBe(`Rollout ${rolloutId} paused`);
    expect(body.markdown.text).toContain('Reason: maintenance window');
    expect(body.markdown.text).toContain(`(https://fleet.example.com/v1/rollouts/${rolloutId})`);
    // The robot secret travels only as its HMAC: never in the URL, body or headers.
    expect(JSON.stringify(message)).not.toContain(robotSecret);
    expect(harness.lines.join('\n')).not.toContain(robotSecret);
  });
});
