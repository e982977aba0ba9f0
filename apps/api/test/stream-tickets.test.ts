/**
 * GET /v1/rollouts/:id/events/stream as a connection: its headers, heartbeat, authentication (a key, or a single-use
 * ticket for an EventSource), tenancy, and its end when the client leaves or the API stops. What it carries (events,
 * resume, other processes) is in event-stream.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { revokeApiKey } from '@fleet/db';
import { instanceIds, waitFor } from '@fleet/testing';
import type { ApiHarness } from './support.ts';
import { startApi, USER_ID } from './support.ts';
import { openSse } from './sse-client.ts';

const OTHER_ACCOUNT = '9999999999999999';
let api: ApiHarness;
let rolloutId: string;
let otherRolloutId: string;

const streamPath = (id: string) => `/v1/rollouts/${id}/events/stream`;
const ticketPath = (id: string) => `/v1/rollouts/${id}/events/stream-tickets`;
const auth = (key: string) => ({ authorization: `Bearer ${key}` });

async function createRollout(count: number, tag: string): Promise<string> {
  const res = await api.request('POST', '/v1/rollouts', { userId: USER_ID, instanceIds: instanceIds(count, tag) });
  expect(res.status).toBe(202);
  return res.body.id as string;
}

beforeAll(async () => {
  api = await startApi({ streamHeartbeatMs: 100, streamTicketTtlMs: 300 });
  rolloutId = await createRollout(3, 'i-tix');
  otherRolloutId = await createRollout(2, 'i-tox');
});
afterAll(async () => {
  await api.close();
});

describe('the stream connection', () => {
  it('answers text/event-stream without caching or proxy buffering, then a progress event and heartbeats', async () => {
    const stream = await openSse(api.url + streamPath(rolloutId), auth(api.adminKey));
    expect(stream.status).toBe(200);
    expect(stream.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    expect(stream.headers.get('cache-control')).toBe('no-cache, no-transform');
    expect(stream.headers.get('x-accel-buffering')).toBe('no');
    expect(stream.headers.get('content-encoding')).toBeNull();
    const progress = await stream.next((f) => f.event === 'progress');
    expect(progress.id).toBeUndefined();
    const status = await api.request('GET', `/v1/rollouts/${rolloutId}`);
    const view = JSON.parse(progress.data);
    // The same shape as the status view, with the same figures (progress moves with the clock, so it is compared apart).
    expect(Object.keys(view).sort()).toEqual(Object.keys(status.body).sort());
    expect({ ...view, progress: undefined }).toEqual({ ...status.body, progress: undefined });
    expect(Object.keys(view.progress).sort()).toEqual(Object.keys(status.body.progress).sort());
    await stream.next((f) => f.comment === 'heartbeat');
    expect(stream.frames[0]).toMatchObject({ retry: 2000 });
    stream.close();
  });

  it('sends progress again when the rollout changes, also when another API process changed it', async () => {
    const other = await startApi({ sharedWith: api });
    try {
      const stream = await openSse(api.url + streamPath(otherRolloutId), auth(api.adminKey));
      await stream.next((f) => f.event === 'progress');
      const paused = await other.request('POST', `/v1/rollouts/${otherRolloutId}/pause`);
      expect(paused.status).toBe(200);
      const after = await stream.next((f) => f.event === 'progress' && JSON.parse(f.data).status === 'paused');
      expect(JSON.parse(after.data)).toMatchObject({ id: otherRolloutId, status: 'paused' });
      // Nothing changed since: no progress frame is repeated while the rollout stands still.
      const progressFrames = () => stream.frames.filter((f) => f.event === 'progress').length;
      const seen = progressFrames();
      await stream.next((f) => f.comment === 'heartbeat' && stream.frames.indexOf(f) > stream.frames.indexOf(after));
      await new Promise((resolve) => setTimeout(resolve, 1500));
      expect(progressFrames()).toBe(seen);
      stream.close();
      expect((await other.request('POST', `/v1/rollouts/${otherRolloutId}/resume`)).status).toBe(200);
    } finally {
      await other.close();
    }
  });

  it('frees the stream when the client goes away', async () => {
    const before = api.eventStreams.openStreams();
    const stream = await openSse(api.url + streamPath(rolloutId), auth(api.adminKey));
    await stream.next((f) => f.event === 'progress');
    expect(api.eventStreams.openStreams()).toBe(before + 1);
    stream.close();
    await waitFor('the stream to be let go', () => api.eventStreams.openStreams() === before, { timeoutMs: 5000 });
  });

  it('refuses a Last-Event-ID that is not an event id, naming the header', async () => {
    const res = await api.request('GET', streamPath(rolloutId), undefined, { 'last-event-id': 'abc' });
    expect(res.status).toBe(400);
    expect(res.body.errors[0]).toMatchObject({ field: 'Last-Event-ID', in: 'header' });
  });

  it("answers another account's key 404 like every route, for the stream and for a ticket", async () => {
    const intruder = await api.createKey('admin', [OTHER_ACCOUNT]);
    const stream = await openSse(api.url + streamPath(rolloutId), auth(intruder.key));
    expect(stream.status).toBe(404);
    expect(stream.body).toMatchObject({ code: 'not_found' });
    const ticket = await api.requestAs(intruder.key, 'POST', ticketPath(rolloutId));
    expect(ticket.status).toBe(404);
    expect((await openSse(api.url + streamPath(rolloutId))).status).toBe(401);
  });

  it('ends open streams when the API stops, so its shutdown does not wait for them', async () => {
    const other = await startApi({ sharedWith: api });
    const stream = await openSse(other.url + streamPath(rolloutId), auth(api.adminKey));
    await stream.next((f) => f.event === 'progress');
    // What main.ts's stop() does before closing the server, which waits for every open response to end.
    await other.eventStreams.stop();
    await stream.ended;
    expect(stream.isEnded()).toBe(true);
    await other.close();
  });
});

describe('stream tickets', () => {
  it('opens the stream once without a header, as the key that made it, even for a viewer', async () => {
    const viewer = await api.createKey('viewer', [USER_ID]);
    const made = await api.requestAs(viewer.key, 'POST', ticketPath(rolloutId));
    expect(made.status).toBe(201);
    expect(made.headers.get('cache-control')).toBe('no-store');
    expect(made.body.ticket).toMatch(/^fst_[A-Za-z0-9_-]{43}$/);
    expect(made.body.url).toBe(`${streamPath(rolloutId)}?ticket=${made.body.ticket}`);
    expect(Date.parse(made.body.expiresAt)).toBeGreaterThan(Date.now() - 1000);
    const stream = await openSse(api.url + made.body.url);
    expect(stream.status).toBe(200);
    await stream.next((f) => f.event === 'progress');
    stream.close();
    const again = await openSse(api.url + made.body.url);
    expect(again.status).toBe(401);
    expect(again.body).toMatchObject({ code: 'unauthenticated', instance: `${streamPath(rolloutId)}?ticket=(hidden)` });
    // Neither the ticket nor its key reached a log line; the access log shows the path only.
    const logs = api.logLines.join('\n');
    expect(logs).not.toContain(made.body.ticket);
    expect(logs).not.toContain(viewer.key);
    expect(logs).toContain(`"path":"${streamPath(rolloutId)}"`);
  });

  it('refuses a ticket past its time, for another rollout, of a revoked key, or made up', async () => {
    const expired = (await api.request('POST', ticketPath(rolloutId))).body.ticket as string;
    const elsewhere = (await api.request('POST', ticketPath(otherRolloutId))).body.ticket as string;
    const key = await api.createKey('operator', [USER_ID]);
    const ofRevoked = (await api.requestAs(key.key, 'POST', ticketPath(rolloutId))).body.ticket as string;
    await revokeApiKey(api.db, key.id, new Date());
    await new Promise((resolve) => setTimeout(resolve, 400));
    for (const ticket of [expired, elsewhere, ofRevoked, `fst_${'A'.repeat(43)}`, 'not-a-ticket']) {
      const stream = await openSse(`${api.url}${streamPath(rolloutId)}?ticket=${ticket}`);
      expect(stream.status, ticket).toBe(401);
    }
    // The one for the other rollout was consumed by the wrong use: it does not open its own rollout either.
    expect((await openSse(`${api.url}${streamPath(otherRolloutId)}?ticket=${elsewhere}`)).status).toBe(401);
  });
});
