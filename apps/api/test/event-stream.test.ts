/**
 * What GET /v1/rollouts/:id/events/stream carries: every stored event once, in order, whichever process made the
 * change (another API process, or a worker's or the reconciler's transition on a connection of its own), across a
 * reconnect with Last-Event-ID and a lost listen connection, and its end after the final event.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '@fleet/db';
import { completeRolloutIfDone, createDatabase, listEvents, transitionRollout } from '@fleet/db';
import type { EventSource } from '@fleet/rollout-domain';
import { instanceIds } from '@fleet/testing';
import type { ApiHarness } from './support.ts';
import { startApi, USER_ID } from './support.ts';
import type { SseStream } from './sse-client.ts';
import { openSse } from './sse-client.ts';

const WORKER: EventSource = { actor: { kind: 'worker', id: 'stream-test-worker' } };
const RECONCILER: EventSource = { actor: { kind: 'reconciler', id: 'stream-test-reconciler' } };

let api: ApiHarness;
let other: ApiHarness;
/** A worker's or reconciler's own connection: its commits reach the APIs only through Postgres. */
let elsewhere: Database;

beforeAll(async () => {
  api = await startApi({ streamHeartbeatMs: 60_000, streamProgressIntervalMs: 200 });
  other = await startApi({ sharedWith: api });
  elsewhere = createDatabase({ url: (api as ApiHarness & { dbUrl: string }).dbUrl, poolMax: 2 });
});
afterAll(async () => {
  await elsewhere?.close();
  await other?.close();
  await api?.close();
});

async function createRollout(tag: string): Promise<string> {
  const res = await other.request('POST', '/v1/rollouts', { userId: USER_ID, instanceIds: instanceIds(3, tag) });
  expect(res.status).toBe(202);
  return res.body.id as string;
}

const open = (id: string, headers: Record<string, string> = {}) =>
  openSse(`${api.url}/v1/rollouts/${id}/events/stream`, { authorization: `Bearer ${api.adminKey}`, ...headers });

/** The rollout's events as stored, in id order. */
async function storedEvents(id: string): Promise<{ id: string; type: string }[]> {
  const page = await listEvents(api.db, { rolloutId: id, limit: 1000 });
  return page.events.map((e) => ({ id: e.id.toString(), type: e.type }));
}

const storedFrames = (stream: SseStream) =>
  stream.events().flatMap((f) => (f.id === undefined ? [] : [{ id: f.id, type: f.event }]));

const waitForEvent = (stream: SseStream, type: string) => stream.next((f) => f.event === type);

describe('the event stream across processes', () => {
  it('sends each event made through the other API and by a worker connection once, in order, as stored', async () => {
    const id = await createRollout('i-sxa');
    const stream = await open(id);
    expect(stream.status).toBe(200);
    await waitForEvent(stream, 'rollout.created');
    expect((await other.request('POST', `/v1/rollouts/${id}/pause`, { reason: 'look first' })).status).toBe(200);
    const paused = await waitForEvent(stream, 'rollout.paused');
    expect(JSON.parse(paused.data)).toMatchObject({ type: 'rollout.paused', rolloutId: id });
    expect((await transitionRollout(elsewhere, id, { type: 'resume' }, { by: WORKER })).kind).toBe('changed');
    const resumed = await waitForEvent(stream, 'rollout.resumed');
    expect(JSON.parse(resumed.data).actor).toEqual(WORKER.actor);
    expect(storedFrames(stream)).toEqual(await storedEvents(id));
    // Progress frames carry no id (a reconnect resumes after the last stored event) and the status view.
    const after = stream.frames.indexOf(resumed);
    const progress = await stream.next(
      (f) => f.event === 'progress' && stream.frames.indexOf(f) > after && JSON.parse(f.data).status === 'running',
    );
    expect(JSON.parse(progress.data)).toMatchObject({ id, status: 'running', counts: { total: 3 } });
    expect(stream.events().filter((f) => f.event === 'progress' && f.id !== undefined)).toEqual([]);
    stream.close();
  });

  it('resumes after Last-Event-ID with every event made meanwhile, once, and none it had', async () => {
    const id = await createRollout('i-sxb');
    const first = await open(id);
    await waitForEvent(first, 'rollout.created');
    expect((await other.request('POST', `/v1/rollouts/${id}/pause`)).status).toBe(200);
    await waitForEvent(first, 'rollout.paused');
    first.close();
    const seen = storedFrames(first);
    // While nobody listens to this rollout: changes from the other API and from a reconciler connection.
    expect((await other.request('POST', `/v1/rollouts/${id}/resume`)).status).toBe(200);
    expect(
      (await transitionRollout(elsewhere, id, { type: 'pause', reason: 'paused by a test' }, { by: RECONCILER })).kind,
    ).toBe('changed');
    const second = await open(id, { 'last-event-id': seen.at(-1)!.id });
    await waitForEvent(second, 'rollout.paused');
    expect((await transitionRollout(elsewhere, id, { type: 'resume' }, { by: RECONCILER })).kind).toBe('changed');
    await second.next(() => storedFrames(second).length === 3);
    const resumed = storedFrames(second);
    expect(resumed.map((e) => e.type)).toEqual(['rollout.resumed', 'rollout.paused', 'rollout.resumed']);
    expect([...seen, ...resumed]).toEqual(await storedEvents(id));
    second.close();
  });

  it('a second client joining an open topic gets its own backlog, then the live events, each once', async () => {
    const id = await createRollout('i-sxc');
    const early = await open(id);
    await waitForEvent(early, 'rollout.created');
    expect((await other.request('POST', `/v1/rollouts/${id}/pause`)).status).toBe(200);
    await waitForEvent(early, 'rollout.paused');
    const late = await open(id, { 'last-event-id': storedFrames(early)[0]!.id });
    await waitForEvent(late, 'rollout.paused');
    expect((await other.request('POST', `/v1/rollouts/${id}/resume`)).status).toBe(200);
    await waitForEvent(late, 'rollout.resumed');
    await waitForEvent(early, 'rollout.resumed');
    const stored = await storedEvents(id);
    expect(storedFrames(early)).toEqual(stored);
    expect(storedFrames(late)).toEqual(stored.slice(1));
    early.close();
    late.close();
  });

  it('hears changes again after its listen connection is terminated, missing nothing made while it was down', async () => {
    const id = await createRollout('i-sxd');
    const stream = await open(id);
    await waitForEvent(stream, 'rollout.created');
    const pid = api.listenerPid();
    expect(pid).toEqual(expect.any(Number));
    await elsewhere.pool.query('SELECT pg_terminate_backend($1)', [pid]);
    expect(
      (await transitionRollout(elsewhere, id, { type: 'pause', reason: 'paused by a test' }, { by: WORKER })).kind,
    ).toBe('changed');
    await waitForEvent(stream, 'rollout.paused');
    expect(api.listenerPid()).not.toBe(pid);
    expect((await other.request('POST', `/v1/rollouts/${id}/resume`)).status).toBe(200);
    await waitForEvent(stream, 'rollout.resumed');
    expect(storedFrames(stream)).toEqual(await storedEvents(id));
    stream.close();
  });
});

describe('the end of a stream', () => {
  it('ends after the final event, preceded by the last progress; a reconnect after it gets 204', async () => {
    const id = await createRollout('i-sxe');
    const stream = await open(id);
    await waitForEvent(stream, 'rollout.created');
    expect(
      (await transitionRollout(elsewhere, id, { type: 'cancel', reason: 'cancelled by a test' }, { by: WORKER })).kind,
    ).toBe('changed');
    await stream.ended;
    const events = stream.events();
    expect(events.at(-1)).toMatchObject({ event: 'rollout.cancelled' });
    expect(events.at(-2)).toMatchObject({ event: 'progress' });
    expect(JSON.parse(events.at(-2)!.data)).toMatchObject({ status: 'cancelled', counts: { cancelled: 3 } });
    expect(storedFrames(stream)).toEqual(await storedEvents(id));
    const again = await open(id, { 'last-event-id': events.at(-1)!.id! });
    expect(again.status).toBe(204);
    // Without a cursor, a finished rollout's whole timeline, then the end.
    const replay = await open(id);
    await replay.ended;
    expect(storedFrames(replay)).toEqual(await storedEvents(id));
    expect(replay.events().at(-1)).toMatchObject({ event: 'rollout.cancelled' });
  });

  it('ends after rollout.completed when the last instance finished on a worker connection', async () => {
    const id = await createRollout('i-sxf');
    const stream = await open(id);
    await waitForEvent(stream, 'rollout.created');
    await elsewhere.pool.query(
      `UPDATE rollout_instance SET state = 'succeeded', finished_at = now(), updated_at = now() WHERE rollout_id = $1::uuid`,
      [id],
    );
    expect(await completeRolloutIfDone(elsewhere, id, WORKER)).toBe(true);
    await stream.ended;
    const last = stream.events().at(-1)!;
    expect(last.event).toBe('rollout.completed');
    expect(JSON.parse(stream.events().at(-2)!.data)).toMatchObject({ status: 'completed', counts: { succeeded: 3 } });
    expect(storedFrames(stream)).toEqual(await storedEvents(id));
  });

  it('ends after rollout.aborted when the reconciler aborts it on its failure threshold', async () => {
    const id = await createRollout('i-sxg');
    const stream = await open(id);
    await waitForEvent(stream, 'rollout.created');
    const aborted = await transitionRollout(
      elsewhere,
      id,
      { type: 'cancel', reason: 'failure threshold reached' },
      { by: RECONCILER, aborted: true },
    );
    expect(aborted.kind).toBe('changed');
    await stream.ended;
    expect(stream.events().at(-1)).toMatchObject({ event: 'rollout.aborted' });
    expect(JSON.parse(stream.events().at(-1)!.data)).toMatchObject({ actor: RECONCILER.actor });
    expect(storedFrames(stream)).toEqual(await storedEvents(id));
  });
});
