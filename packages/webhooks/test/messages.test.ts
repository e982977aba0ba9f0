import { describe, expect, it } from 'vitest';
import { chatText, dingTalkBody, slackBody, standardBody, subscriptionReceives } from '../src/index.ts';

const rolloutId = '4b0f2c1e-8a41-4a7d-9f3e-2f7c1b5d9e00';

describe('message bodies', () => {
  it('standard: { type, timestamp, data } with the event id, rollout and account', () => {
    const body = JSON.parse(
      standardBody({
        id: 42n,
        type: 'rollout.completed',
        rolloutId,
        userId: '1234567890123456',
        data: { counts: { succeeded: 9, failed: 1 } },
        createdAt: new Date('2026-12-02T05:00:00.000Z'),
      }),
    );
    expect(body).toEqual({
      type: 'rollout.completed',
      timestamp: '2026-12-02T05:00:00.000Z',
      data: { eventId: '42', rolloutId, userId: '1234567890123456', counts: { succeeded: 9, failed: 1 } },
    });
  });

  it('chat: what happened, the counts, the cause and a link to the rollout', () => {
    const text = chatText(
      {
        type: 'rollout.paused',
        rolloutId,
        data: { cause: { kind: 'wave_gate', wave: 2, succeeded: 80, failed: 20, thresholdPercent: 90 }, reason: null },
        counts: { total: 1000, succeeded: 80, failed: 20, pending: 900, in_progress: 0, cancelled: 0 },
      },
      'https://fleet.example.com/',
    );
    expect(text.title).toBe(`Rollout ${rolloutId} paused`);
    expect(text.lines).toContain('Instances: 80 succeeded, 20 failed, 900 pending of 1000');
    expect(text.lines).toContain('Cause: wave 2 fell below its 90 % gate (80 succeeded, 20 failed)');
    expect(text.link).toBe(`https://fleet.example.com/v1/rollouts/${rolloutId}`);
  });

  it('slack: { text } with mrkdwn escaped and the link; dingtalk: a markdown message with a title', () => {
    const text = { title: 'Rollout x aborted', lines: ['Reason: a <b> & c'], link: 'https://f.example/v1/rollouts/x' };
    expect(JSON.parse(slackBody(text))).toEqual({
      text: '*Rollout x aborted*\nReason: a &lt;b&gt; &amp; c\n<https://f.example/v1/rollouts/x|Open the rollout>',
    });
    const ding = JSON.parse(dingTalkBody(text));
    expect(ding).toMatchObject({ msgtype: 'markdown', markdown: { title: 'Rollout x aborted' } });
    expect(ding.markdown.text).toContain('- Reason: a <b> & c');
    expect(ding.markdown.text).toContain('[Open the rollout](https://f.example/v1/rollouts/x)');
  });
});

describe('which subscriptions receive an event', () => {
  const subscription = {
    id: 'w1',
    events: ['rollout.completed'],
    userIds: ['1111111111111111'],
    allAccounts: false,
    startAfterEventId: 10n,
  };
  const event = { id: 11n, type: 'rollout.completed', userId: '1111111111111111', data: {} };

  it("receives its accounts' events of its types after it was made", () => {
    expect(subscriptionReceives(subscription, event)).toBe(true);
    expect(subscriptionReceives(subscription, { ...event, id: 10n })).toBe(false);
    expect(subscriptionReceives(subscription, { ...event, type: 'rollout.paused' })).toBe(false);
    expect(subscriptionReceives(subscription, { ...event, userId: '2222222222222222' })).toBe(false);
    expect(subscriptionReceives({ ...subscription, events: ['*'] }, { ...event, type: 'rollout.paused' })).toBe(true);
  });

  it("receives an API key's or a subscription's events only when all their accounts are its own", () => {
    const all = { ...subscription, events: ['*'] };
    const keyEvent = { id: 12n, type: 'api_key.created', userId: null };
    expect(subscriptionReceives(all, { ...keyEvent, data: { userIds: ['1111111111111111'] } })).toBe(true);
    expect(subscriptionReceives(all, { ...keyEvent, data: { userIds: ['1111111111111111', '2'] } })).toBe(false);
    expect(subscriptionReceives(all, { ...keyEvent, data: { userIds: [] } })).toBe(false);
    expect(subscriptionReceives({ ...all, allAccounts: true }, { ...keyEvent, data: { userIds: [] } })).toBe(true);
  });

  it('receives a webhook.test event only when it is the one tested', () => {
    const test = { id: 13n, type: 'webhook.test', userId: null };
    expect(subscriptionReceives(subscription, { ...test, data: { webhookId: 'w1' } })).toBe(true);
    expect(
      subscriptionReceives(
        { ...subscription, allAccounts: true, events: ['*'] },
        { ...test, data: { webhookId: 'w2' } },
      ),
    ).toBe(false);
  });
});
