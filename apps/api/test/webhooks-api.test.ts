import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { claimDeliveryAttempt, dispatchWebhookEvents, listEvents } from '@fleet/db';
import { SSRF_REFUSED_URLS as REFUSED_URLS } from '@fleet/testing';
import type { ApiHarness } from './support.ts';
import { USER_ID, startApi, testSecretBox } from './support.ts';

const OTHER_USER = '6543210987654321';
const PUBLIC_URL = 'https://8.8.8.8/hooks/fleet';

let api: ApiHarness;
beforeAll(async () => {
  api = await startApi();
});
afterAll(async () => {
  await api.close();
});

const create = (body: Record<string, unknown>, key = api.adminKey) =>
  api.requestAs(key, 'POST', '/v1/webhooks', {
    url: PUBLIC_URL,
    events: ['rollout.completed'],
    userIds: [USER_ID],
    ...body,
  });

describe('POST /v1/webhooks', () => {
  it('answers 201 with a whsec_ secret shown once; reads never show it, and the database holds it sealed', async () => {
    const res = await create({ description: 'on-call' });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      url: PUBLIC_URL,
      kind: 'standard',
      events: ['rollout.completed'],
      userIds: [USER_ID],
      allAccounts: false,
      enabled: true,
      hasRobotSecret: false,
    });
    const secret: string = res.body.secret;
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(res.headers.get('location')).toBe(`/v1/webhooks/${res.body.id}`);

    const read = await api.request('GET', `/v1/webhooks/${res.body.id}`);
    expect(read.status).toBe(200);
    expect(JSON.stringify(read.body)).not.toContain(secret.slice(6, 20));
    expect(read.body.secret).toBeUndefined();
    const list = await api.request('GET', '/v1/webhooks');
    expect(JSON.stringify(list.body)).not.toContain(secret.slice(6, 20));

    const { rows } = await api.db.pool.query<{ row: string; sealed: string }>(
      `SELECT row_to_json(w)::text AS row, secret_sealed AS sealed FROM webhook w WHERE id = $1`,
      [res.body.id],
    );
    expect(rows[0]!.row).not.toContain(secret.slice(6, 20));
    expect(testSecretBox().open(rows[0]!.sealed, `webhook:${res.body.id}:secret`)).toBe(secret);
    expect(api.logLines.join('\n')).not.toContain(secret.slice(6, 20));
  });

  it('records webhook.created, without the secret, in the audit trail', async () => {
    const res = await create({});
    const { events } = await listEvents(api.db, { type: 'webhook.created', limit: 100 });
    const event = events.find((e) => (e.data as { webhookId: string }).webhookId === res.body.id);
    expect(event).toMatchObject({ userId: null, data: { userIds: [USER_ID], kind: 'standard' } });
    expect(JSON.stringify(event!.data)).not.toContain(res.body.secret.slice(6, 20));
  });

  it('seals a DingTalk robot secret and never shows it; refuses a robot secret for another kind', async () => {
    const res = await create({ kind: 'dingtalk', robotSecret: 'SECabcdef0123456789' });
    expect(res.status).toBe(201);
    expect(res.body.hasRobotSecret).toBe(true);
    expect(JSON.stringify(res.body)).not.toContain('SECabcdef0123456789');
    const { rows } = await api.db.pool.query<{ row: string }>(
      `SELECT row_to_json(w)::text AS row FROM webhook w WHERE id = $1`,
      [res.body.id],
    );
    expect(rows[0]!.row).not.toContain('SECabcdef0123456789');
    const wrong = await create({ kind: 'slack', robotSecret: 'SECabcdef0123456789' });
    expect(wrong.status).toBe(400);
    expect(wrong.body.errors).toEqual([
      expect.objectContaining({ field: 'robotSecret', message: 'is only for kind dingtalk' }),
    ]);
  });

  it.each([
    [
      'slack',
      'https://8.8.8.8/services/T0AB12CD3/B0EF45GH6/SlackTokenXyZ0123456abcd',
      'https://8.8.8.8/services/T0…/…abcd',
      'SlackTokenXyZ0123456',
    ],
    [
      'dingtalk',
      'https://8.8.8.8/robot/send?access_token=DingTokenQw9876543210wxyz',
      'https://8.8.8.8/robot/send?access_token=…wxyz',
      'DingTokenQw9876543210',
    ],
  ])('seals a %s URL (its credential) at rest and shows it masked', async (kind, url, masked, token) => {
    const res = await create({ kind, url });
    expect(res.status).toBe(201);
    expect(res.body.url).toBe(masked);
    expect((await api.request('GET', `/v1/webhooks/${res.body.id}`)).body.url).toBe(masked);
    expect(JSON.stringify((await api.request('GET', '/v1/webhooks')).body)).not.toContain(token);
    const { rows } = await api.db.pool.query<{ row: string; sealed: string }>(
      `SELECT row_to_json(w)::text AS row, url_sealed AS sealed FROM webhook w WHERE id = $1`,
      [res.body.id],
    );
    expect(rows[0]!.row).not.toContain(token);
    expect(testSecretBox().open(rows[0]!.sealed, `webhook:${res.body.id}:url`)).toBe(url);
    const { events } = await listEvents(api.db, { limit: 1000 });
    expect(JSON.stringify(events.map((e) => e.data))).not.toContain(token);
    expect(api.logLines.join('\n')).not.toContain(token);

    // The same URL again changes nothing; another one is sealed in its place, and the SSRF check still applies.
    const same = await api.request('PATCH', `/v1/webhooks/${res.body.id}`, { url });
    expect(same.body.updatedAt).toBe(res.body.updatedAt);
    const moved = await api.request('PATCH', `/v1/webhooks/${res.body.id}`, { url: `${url}Z9` });
    expect(moved.status).toBe(200);
    expect(moved.body.url).not.toContain(token);
    const after = await api.db.pool.query<{ sealed: string }>(
      `SELECT url_sealed AS sealed FROM webhook WHERE id = $1`,
      [res.body.id],
    );
    expect(testSecretBox().open(after.rows[0]!.sealed, `webhook:${res.body.id}:url`)).toBe(`${url}Z9`);
    expect((await api.request('PATCH', `/v1/webhooks/${res.body.id}`, { url: 'http://10.0.0.8/x' })).status).toBe(422);
  });

  it('keeps a standard URL as it is, with nothing sealed', async () => {
    const res = await create({});
    expect(res.body.url).toBe(PUBLIC_URL);
    const { rows } = await api.db.pool.query<{ url: string; sealed: string | null }>(
      `SELECT url, url_sealed AS sealed FROM webhook WHERE id = $1`,
      [res.body.id],
    );
    expect(rows[0]).toEqual({ url: PUBLIC_URL, sealed: null });
  });

  it('refuses an unknown event type naming the field and what is allowed, changing nothing', async () => {
    const before = (await api.request('GET', '/v1/webhooks')).body.items.length;
    const res = await create({ events: ['rollout.exploded'] });
    expect(res.status).toBe(400);
    expect(res.body.errors[0]).toMatchObject({ field: 'events[0]' });
    expect(res.body.errors[0].message).toContain('rollout.completed');
    expect((await api.request('GET', '/v1/webhooks')).body.items.length).toBe(before);
  });

  it.each(REFUSED_URLS)('refuses $url with a 422 naming why ($reason)', async ({ url, reason, addressClass }) => {
    const res = await create({ url });
    expect(res.status).toBe(422);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
    expect(res.body.code).toBe('webhook_url_refused');
    expect(res.body.detail).toContain(addressClass ? `(${reason}: ${addressClass})` : `(${reason})`);
    expect(res.body.errors).toEqual([expect.objectContaining({ field: 'url', in: 'body' })]);
  });

  it('answers 503 encryption_not_configured without FLEET_ENCRYPTION_KEY', async () => {
    const keyless = await startApi({ secretBox: null });
    try {
      const res = await keyless.request('POST', '/v1/webhooks', { url: PUBLIC_URL, events: ['*'], userIds: [USER_ID] });
      expect(res.status).toBe(503);
      expect(res.body.code).toBe('encryption_not_configured');
    } finally {
      await keyless.close();
    }
  });
});

describe('tenancy', () => {
  it("hides another tenant's subscription (404 like a missing one) and refuses another tenant's account", async () => {
    const theirs = await create({ userIds: [OTHER_USER] });
    const mine = await api.createKey('operator', [USER_ID]);
    expect((await api.requestAs(mine.key, 'GET', `/v1/webhooks/${theirs.body.id}`)).status).toBe(404);
    expect((await api.requestAs(mine.key, 'DELETE', `/v1/webhooks/${theirs.body.id}`)).status).toBe(404);
    expect((await create({ userIds: [OTHER_USER] }, mine.key)).status).toBe(404);
    expect((await create({ userIds: undefined, allAccounts: true }, mine.key)).status).toBe(403);
    const listed = await api.requestAs(mine.key, 'GET', '/v1/webhooks');
    expect(listed.body.items.map((w: { id: string }) => w.id)).not.toContain(theirs.body.id);
  });

  it('lets a viewer read but not subscribe', async () => {
    const viewer = await api.createKey('viewer', [USER_ID]);
    expect((await api.requestAs(viewer.key, 'GET', '/v1/webhooks')).status).toBe(200);
    expect((await create({}, viewer.key)).status).toBe(403);
  });
});

describe('changing a subscription', () => {
  it('PATCH changes url, events and enabled with a webhook.updated event; a refused URL changes nothing', async () => {
    const { body: made } = await create({});
    const res = await api.request('PATCH', `/v1/webhooks/${made.id}`, { events: ['*'], enabled: false });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ events: ['*'], enabled: false, disabledReason: 'operator' });
    const refused = await api.request('PATCH', `/v1/webhooks/${made.id}`, { url: 'http://10.0.0.8/' });
    expect(refused.status).toBe(422);
    expect((await api.request('GET', `/v1/webhooks/${made.id}`)).body.url).toBe(PUBLIC_URL);
    const again = await api.request('PATCH', `/v1/webhooks/${made.id}`, { enabled: true });
    expect(again.body).toMatchObject({ enabled: true, disabledReason: null });
    const { events } = await listEvents(api.db, { type: 'webhook.updated', limit: 100 });
    expect(
      events
        .filter((e) => (e.data as { webhookId: string }).webhookId === made.id)
        .map((e) => (e.data as { changed: string[] }).changed),
    ).toEqual([['events', 'enabled'], ['enabled']]);
  });

  it('PATCH that sets fields to what they already are writes no webhook.updated event and leaves updatedAt', async () => {
    const { body: made } = await create({ description: 'same' });
    const eventsOf = async () =>
      (await listEvents(api.db, { type: 'webhook.updated', limit: 1000 })).events.filter(
        (e) => (e.data as { webhookId: string }).webhookId === made.id,
      );
    const res = await api.request('PATCH', `/v1/webhooks/${made.id}`, {
      enabled: true,
      url: PUBLIC_URL,
      events: ['rollout.completed'],
      description: 'same',
    });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ enabled: true, updatedAt: made.updatedAt });
    expect(await eventsOf()).toEqual([]);
    // A real change still writes one, naming only the field that changed.
    await api.request('PATCH', `/v1/webhooks/${made.id}`, { enabled: true, description: 'changed' });
    expect((await eventsOf()).map((e) => (e.data as { changed: string[] }).changed)).toEqual([['description']]);
  });

  it('rotate-secret answers a new secret and keeps the old one signing for 24 hours', async () => {
    const { body: made } = await create({});
    const res = await api.request('POST', `/v1/webhooks/${made.id}/rotate-secret`);
    expect(res.status).toBe(200);
    expect(res.body.secret).toMatch(/^whsec_/);
    expect(res.body.secret).not.toBe(made.secret);
    const until = Date.parse(res.body.previousSecretUntil) - Date.now();
    expect(until).toBeGreaterThan(23 * 3_600_000);
    expect(until).toBeLessThanOrEqual(24 * 3_600_000);
    const { rows } = await api.db.pool.query<{ previous: string }>(
      `SELECT previous_secret_sealed AS previous FROM webhook WHERE id = $1`,
      [made.id],
    );
    expect(testSecretBox().open(rows[0]!.previous, `webhook:${made.id}:secret`)).toBe(made.secret);
  });

  it('POST /test records a webhook.test event for it; DELETE removes it with webhook.deleted', async () => {
    const { body: made } = await create({});
    const test = await api.request('POST', `/v1/webhooks/${made.id}/test`);
    expect(test.status).toBe(202);
    const { events } = await listEvents(api.db, { type: 'webhook.test', limit: 100 });
    expect(events.find((e) => e.id.toString() === test.body.eventId)?.data).toMatchObject({ webhookId: made.id });
    expect((await api.request('DELETE', `/v1/webhooks/${made.id}`)).status).toBe(204);
    expect((await api.request('GET', `/v1/webhooks/${made.id}`)).status).toBe(404);
    const deleted = await listEvents(api.db, { type: 'webhook.deleted', limit: 100 });
    expect(deleted.events.some((e) => (e.data as { webhookId: string }).webhookId === made.id)).toBe(true);
  });

  it('refuses to test a disabled subscription (409 webhook_disabled), recording no webhook.test event', async () => {
    const { body: made } = await create({});
    await api.request('PATCH', `/v1/webhooks/${made.id}`, { enabled: false });
    const before = (await listEvents(api.db, { type: 'webhook.test', limit: 1000 })).events.length;
    const res = await api.request('POST', `/v1/webhooks/${made.id}/test`);
    expect(res.status).toBe(409);
    expect(res.body).toMatchObject({ code: 'webhook_disabled' });
    expect(res.body.detail).toContain('enabled');
    expect((await listEvents(api.db, { type: 'webhook.test', limit: 1000 })).events).toHaveLength(before);
  });

  it('lists a test message in the delivery log, and redeliver makes it pending again with the same id', async () => {
    const { body: made } = await create({ events: ['rollout.completed'] });
    await api.request('POST', `/v1/webhooks/${made.id}/test`);
    // The notifier's dispatch step, run here (no notifier in this test): the event becomes this subscription's message.
    await dispatchWebhookEvents(api.db, {
      batchSize: 1000,
      planner: (event, subscriptions) =>
        subscriptions.filter(
          (s) => event.type === 'webhook.test' && (event.data as { webhookId: string }).webhookId === s.id,
        ),
    });
    const log = await api.request('GET', `/v1/webhooks/${made.id}/deliveries`);
    expect(log.status).toBe(200);
    expect(log.body.items).toEqual([
      expect.objectContaining({ eventType: 'webhook.test', status: 'pending', attempts: 0, attemptLog: [] }),
    ]);
    const id = log.body.items[0].id as string;
    const again = await api.request('POST', `/v1/webhooks/${made.id}/deliveries/${id}/redeliver`);
    expect(again.status).toBe(202);
    expect(again.body).toMatchObject({ id, status: 'pending' });
    const missing = await api.request('POST', `/v1/webhooks/${made.id}/deliveries/${randomUUID()}/redeliver`);
    expect(missing.status).toBe(404);

    // An attempt of it in flight (the notifier's claim, taken here): the redelivery is refused and changes nothing.
    expect(await claimDeliveryAttempt(api.db, { id, attempts: 0 }, 60_000)).toBe(true);
    const before = await api.db.pool.query(`SELECT next_attempt_at FROM webhook_delivery WHERE id = $1`, [id]);
    const inFlight = await api.request('POST', `/v1/webhooks/${made.id}/deliveries/${id}/redeliver`);
    expect(inFlight.status).toBe(409);
    expect(inFlight.body).toMatchObject({ code: 'delivery_in_flight' });
    const after = await api.db.pool.query(`SELECT next_attempt_at FROM webhook_delivery WHERE id = $1`, [id]);
    expect(after.rows).toEqual(before.rows);
  });

  it('GET deliveries refuses an unknown status naming what is allowed', async () => {
    const { body: made } = await create({});
    const res = await api.request('GET', `/v1/webhooks/${made.id}/deliveries?status=lost`);
    expect(res.status).toBe(400);
    expect(res.body.errors[0]).toMatchObject({ field: 'status', in: 'query' });
    const empty = await api.request('GET', `/v1/webhooks/${made.id}/deliveries`);
    expect(empty.body).toEqual({ items: [], nextCursor: null });
  });
});
