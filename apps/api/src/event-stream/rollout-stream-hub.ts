/**
 * The per-process fan-out behind GET /v1/rollouts/:id/events/stream.
 *
 * One LISTEN connection per API process (EventListener of @fleet/db) hears that some rollout has a new event, from
 * whichever process wrote it (an API, a worker, the reconciler): the event row and its NOTIFY commit together. The
 * notification only says "look": every stream reads the events themselves by id (`after` its last one), so nothing
 * depends on a notification's content, and a notification missed while the connection was down is made up by the
 * catch-up that follows every re-listen.
 *
 * Streams of one rollout share a topic: one read of new events per notification and one progress computation per
 * tick, whatever the number of clients (the bench runs 200 on one rollout), each frame serialised once. A stream joins
 * with its client's Last-Event-ID as its cursor and is sent only events with a larger id, once each: ids follow commit
 * order (the events table guarantees it), so "after my last id" never skips one that commits late.
 *
 * Joining a topic whose cursor is past the client's: the stream first reads its own backlog (its cursor up to now)
 * while the topic's new frames wait in a buffer, then sends the buffer without what the backlog already sent.
 *
 * A `progress` frame (the rollout's status view, as GET /v1/rollouts/:id answers) goes out when a tick, every
 * `progressIntervalMs`, finds the view changed (counts, status, wave, limits; not the rate and ETA alone, which drift
 * on their own), so at most once per interval and only while something changes; a joining stream gets the latest
 * at once. A final event (rollout.completed / cancelled / aborted) is preceded by a fresh progress and ends every
 * stream of the topic.
 */
import type { Database, EventListener, RolloutRecord } from '@fleet/db';
import { findRollout } from '@fleet/db';
import type { Logger } from '@fleet/logger';
import type { RedisClient } from '@fleet/queue';
import { DependencyUnavailableError } from '@fleet/errors';
import { isFinalRolloutStatus } from '@fleet/rollout-domain';
import type { RolloutStatusView } from '../rollout-status.ts';
import { readRolloutStatus } from '../rollout-status.ts';
import type { SseResponse } from './sse-response.ts';
import { renderSseEvent } from './sse-response.ts';

/** A stored event as a stream sends it: `data` is already the JSON text of its public view. */
type StreamEvent = { id: bigint; type: string; data: string };

/** Reads a rollout's events with an id above `after`, oldest first, at most `limit`. */
export type ReadEventsAfter = (rolloutId: string, after: bigint, limit: number) => Promise<StreamEvent[]>;

/** Types whose event is the last of a rollout: its stream ends with it. */
export const FINAL_EVENT_TYPES: ReadonlySet<string> = new Set([
  'rollout.completed',
  'rollout.cancelled',
  'rollout.aborted',
]);

export type RolloutStreamHubDeps = {
  db: Database;
  redis: RedisClient;
  queuePrefix: string;
  logger: Logger;
  readEventsAfter: ReadEventsAfter;
  /** Makes the process's one listen connection (main.ts and tests wire createEventListener with the events channel). */
  listen: (handlers: {
    onNotification: (payload: string) => void;
    onListening: () => void;
    onConnectionLost: (error: Error) => void;
  }) => EventListener;
  /** How often each watched rollout's progress is looked at, in ms. Default 1000. */
  progressIntervalMs?: number;
  /** Longest wait for the listen connection when a stream opens, before a 503, in ms. Default 5000. */
  listenTimeoutMs?: number;
};

export type RolloutStreamHub = {
  /** Resolves once this process listens for events (503 DependencyUnavailableError after `listenTimeoutMs`). */
  ready(): Promise<void>;
  /**
   * Sends `sse` every event of `rollout` after `afterId` and its progress, until the rollout's final event, the client
   * leaving or stop(). Resolves once the stream has joined (rejects, before anything was sent, when it cannot listen).
   */
  join(rollout: RolloutRecord, afterId: bigint, sse: SseResponse): Promise<void>;
  /** Reads the events after `afterId` in pages (for a finished rollout's stream, which no topic serves). */
  readAllAfter(rolloutId: string, afterId: bigint, onPage: (events: StreamEvent[]) => void): Promise<void>;
  /** Streams open in this process. */
  openStreams(): number;
  /** Ends every open stream and the listen connection. Idempotent. */
  stop(): Promise<void>;
};

const PAGE = 500;
const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/i;

/** A frame as every stream of a topic sends it: rendered once (the same bytes for 200 clients). */
type Frame = { id?: bigint; rendered: Buffer; final?: boolean };
type Stream = { sse: SseResponse; cursor: bigint; buffer: Frame[] | null };
type Topic = {
  rollout: RolloutRecord;
  streams: Set<Stream>;
  cursor: bigint;
  pumping: Promise<void> | null;
  pumpAgain: boolean;
  ticking: boolean;
  lastKey: string | null;
  lastProgress: Frame | null;
};

/** What a progress frame is sent for: the view without what moves by itself (rate, ETA, the account's rate now). */
function changeKey(view: RolloutStatusView): string {
  return JSON.stringify({ ...view, progress: undefined, limits: { ...view.limits, accountRateNowRps: undefined } });
}

/** Writes a frame to one stream: an event once (by id), progress as it comes. */
function write(stream: Stream, frame: Frame): void {
  if (frame.id !== undefined) {
    if (frame.id <= stream.cursor) return;
    stream.cursor = frame.id;
  }
  stream.sse.send(frame.rendered);
  if (frame.final) stream.sse.close();
}

/** What the topic sends a stream: held back while the stream reads its own backlog. */
function send(stream: Stream, frame: Frame): void {
  if (stream.buffer) stream.buffer.push(frame);
  else write(stream, frame);
}

const eventFrame = (event: StreamEvent): Frame => ({
  id: event.id,
  rendered: Buffer.from(renderSseEvent({ id: event.id.toString(), event: event.type, data: event.data })),
  final: FINAL_EVENT_TYPES.has(event.type),
});

export function createRolloutStreamHub(deps: RolloutStreamHubDeps): RolloutStreamHub {
  const progressIntervalMs = deps.progressIntervalMs ?? 1000;
  const topics = new Map<string, Topic>();
  let listener: EventListener | null = null;
  let ticker: NodeJS.Timeout | undefined;
  let stopped = false;

  const broadcast = (topic: Topic, frame: Frame) => {
    for (const stream of topic.streams) send(stream, frame);
  };

  const closeTopic = (topic: Topic) => {
    topics.delete(topic.rollout.id);
    for (const stream of topic.streams) stream.sse.close();
    topic.streams.clear();
    if (topics.size === 0) {
      clearInterval(ticker);
      ticker = undefined;
    }
  };

  /** Reads the topic's new events and sends them; a call while one runs makes it read once more. */
  const pump = (topic: Topic): Promise<void> => {
    if (topic.pumping) {
      topic.pumpAgain = true;
      return topic.pumping;
    }
    topic.pumping = (async () => {
      do {
        topic.pumpAgain = false;
        for (;;) {
          const page = await deps.readEventsAfter(topic.rollout.id, topic.cursor, PAGE);
          for (const event of page) {
            const frame = eventFrame(event);
            // The last counts go out before the event that ends the stream.
            if (frame.final) await tick(topic, true);
            broadcast(topic, frame);
            topic.cursor = event.id;
            if (frame.final) return closeTopic(topic);
          }
          if (page.length < PAGE) break;
        }
      } while (topic.pumpAgain && !stopped);
    })()
      .catch((error: unknown) => {
        // Its clients reconnect with their Last-Event-ID and miss nothing.
        deps.logger.warn('could not read rollout events for a stream', { rolloutId: topic.rollout.id, error });
        closeTopic(topic);
      })
      .finally(() => {
        topic.pumping = null;
      });
    return topic.pumping;
  };

  /** Looks at the rollout's status view; sends `progress` when it changed (or when `force`). */
  async function tick(topic: Topic, force = false): Promise<void> {
    if (topic.ticking && !force) return;
    topic.ticking = true;
    try {
      const rollout = await findRollout(deps.db, topic.rollout.id);
      if (!rollout) return closeTopic(topic);
      topic.rollout = rollout;
      const view = await readRolloutStatus(deps, rollout);
      const key = changeKey(view);
      if (force || key !== topic.lastKey) {
        topic.lastKey = key;
        topic.lastProgress = { rendered: Buffer.from(renderSseEvent({ event: 'progress', data: view })) };
        broadcast(topic, topic.lastProgress);
      }
      // Finished without its final event reaching us (yet): read once more; a stream must not outlive its rollout.
      if (!force && isFinalRolloutStatus(rollout.status)) {
        await pump(topic);
        if (topics.get(rollout.id) === topic) closeTopic(topic);
      }
    } catch (error) {
      deps.logger.warn('could not read rollout progress for a stream', { rolloutId: topic.rollout.id, error });
    } finally {
      topic.ticking = false;
    }
  }

  /**
   * A notice names the rollout and the highest id of its commit (`{"id":"41","rolloutId":"..."}`): a topic already
   * past that id has nothing to read. A notice naming no rollout makes every topic look.
   */
  const onNotification = (payload: string) => {
    const rolloutId = UUID.exec(payload)?.[0]?.toLowerCase();
    if (rolloutId === undefined) {
      for (const t of topics.values()) void pump(t);
      return;
    }
    const topic = topics.get(rolloutId);
    const id = /"id"\s*:\s*"?(\d{1,19})/.exec(payload)?.[1];
    if (topic && (id === undefined || BigInt(id) > topic.cursor)) void pump(topic);
  };

  async function listening(): Promise<void> {
    // Stopping: no new listen connection that nothing would end.
    if (stopped) throw new DependencyUnavailableError('postgres');
    listener ??= deps.listen({
      onNotification,
      // After a lost connection, what was notified meanwhile is read by id.
      onListening: () => {
        for (const topic of topics.values()) void pump(topic);
      },
      onConnectionLost: (error) => deps.logger.warn('event listen connection lost; listening again', { error }),
    });
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new DependencyUnavailableError('postgres')), deps.listenTimeoutMs ?? 5000);
    });
    try {
      await Promise.race([listener.start(), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  async function readAllAfter(rolloutId: string, afterId: bigint, onPage: (events: StreamEvent[]) => void) {
    for (let after = afterId; ;) {
      const page = await deps.readEventsAfter(rolloutId, after, PAGE);
      if (page.length > 0) onPage(page);
      if (page.length < PAGE) return;
      after = page[page.length - 1]!.id;
    }
  }

  /** A stream joining a topic that is past its cursor: its own backlog first, then what the topic sent meanwhile. */
  async function catchUp(topic: Topic, stream: Stream): Promise<void> {
    await readAllAfter(topic.rollout.id, stream.cursor, (events) => {
      for (const event of events) write(stream, eventFrame(event));
    });
    const held = stream.buffer ?? [];
    stream.buffer = null;
    for (const frame of held) write(stream, frame);
    if (!held.some((f) => f.id === undefined) && topic.lastProgress) write(stream, topic.lastProgress);
  }

  return {
    ready: listening,
    async join(rollout, afterId, sse) {
      if (stopped) return sse.close();
      await listening();
      let topic = topics.get(rollout.id);
      const stream: Stream = { sse, cursor: afterId, buffer: null };
      const leave = () => {
        topic?.streams.delete(stream);
        if (topic && topic.streams.size === 0 && topics.get(rollout.id) === topic) closeTopic(topic);
      };
      if (!topic) {
        topic = {
          rollout,
          streams: new Set([stream]),
          // From the start of the timeline, whatever this first client has seen: a topic's cursor must never be ahead
          // of the events it has read (a client's Last-Event-ID could be), or a later joiner would miss some.
          cursor: 0n,
          pumping: null,
          pumpAgain: false,
          ticking: false,
          lastKey: null,
          lastProgress: null,
        };
        topics.set(rollout.id, topic);
        ticker ??= setInterval(() => {
          for (const t of topics.values()) void tick(t);
        }, progressIntervalMs);
        ticker.unref();
        sse.onClose(leave);
        void tick(topic);
        void pump(topic);
        return;
      }
      topic.streams.add(stream);
      sse.onClose(leave);
      if (afterId >= topic.cursor) {
        if (topic.lastProgress) send(stream, topic.lastProgress);
        return;
      }
      stream.buffer = [];
      await catchUp(topic, stream).catch((error: unknown) => {
        deps.logger.warn('could not read rollout events for a stream', { rolloutId: rollout.id, error });
        sse.close();
      });
    },
    readAllAfter,
    openStreams: () => [...topics.values()].reduce((n, t) => n + t.streams.size, 0),
    async stop() {
      stopped = true;
      for (const topic of [...topics.values()]) closeTopic(topic);
      clearInterval(ticker);
      await listener?.stop();
    },
  };
}
