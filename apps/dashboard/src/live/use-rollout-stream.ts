/**
 * A rollout as it moves, from its event stream (GET /v1/rollouts/:id/events/stream): `progress` frames carry the
 * rollout as GET answers it, the other frames are its events. The console reads the stream with fetch (through
 * @fleet/api-client), which can send the key in `Authorization`, so it needs no stream ticket; when the stream
 * drops it reconnects with the last event id (Last-Event-ID: nothing lost or repeated), backing off to 15 s.
 *
 * Memory stays bounded whatever the rollout's size: the last MAX_EVENTS events and MAX_SAMPLES progress samples.
 */
import { useEffect, useState } from 'react';
import { ApiProblemError } from '@fleet/api-client';
import type { FleetApiClient, FleetEvent, Rollout } from '@fleet/api-client';

const MAX_EVENTS = 300;
const MAX_SAMPLES = 600;
const FINAL_EVENTS = new Set(['rollout.completed', 'rollout.cancelled', 'rollout.aborted']);

/** Done instances at a moment (ms since epoch), for the throughput chart. */
export type ProgressSample = { at: number; done: number };

export type RolloutStream = {
  rollout: Rollout | undefined;
  /** When `rollout` arrived (ms since epoch; 0 before the first frame). */
  rolloutAt: number;
  /** Newest first. */
  events: FleetEvent[];
  /** Events received in all (more than `events` holds once past MAX_EVENTS). */
  eventCount: number;
  samples: ProgressSample[];
  state: 'connecting' | 'live' | 'reconnecting' | 'ended' | 'failed';
  error: unknown;
};

const INITIAL: RolloutStream = {
  rollout: undefined,
  rolloutAt: 0,
  events: [],
  eventCount: 0,
  samples: [],
  state: 'connecting',
  error: null,
};

function doneOf(rollout: Rollout): number {
  return rollout.progress?.done ?? rollout.counts.succeeded + rollout.counts.failed + rollout.counts.cancelled;
}

export function useRolloutStream(client: FleetApiClient, rolloutId: string): RolloutStream {
  const [stream, setStream] = useState<RolloutStream>(INITIAL);

  useEffect(() => {
    setStream(INITIAL);
    const controller = new AbortController();
    const { signal } = controller;
    let lastEventId: string | undefined;
    let sawFinal = false;

    const onProgress = (rollout: Rollout) =>
      setStream((s) => {
        const at = Date.now();
        return {
          ...s,
          rollout,
          rolloutAt: at,
          samples: [...s.samples, { at, done: doneOf(rollout) }].slice(-MAX_SAMPLES),
        };
      });
    const onEvent = (event: FleetEvent) => {
      if (FINAL_EVENTS.has(event.type)) sawFinal = true;
      setStream((s) => ({
        ...s,
        events: [event, ...s.events].slice(0, MAX_EVENTS),
        eventCount: s.eventCount + 1,
      }));
    };

    const run = async () => {
      let delayMs = 1000;
      while (!signal.aborted) {
        try {
          const frames = await client.openRolloutStream(rolloutId, { lastEventId, signal });
          if (frames === null) break;
          setStream((s) => ({ ...s, state: 'live', error: null }));
          delayMs = 1000;
          for await (const frame of frames) {
            if (frame.event === 'progress') onProgress(JSON.parse(frame.data) as Rollout);
            else {
              if (frame.id) lastEventId = frame.id;
              onEvent(JSON.parse(frame.data) as FleetEvent);
            }
          }
          if (sawFinal) break;
        } catch (error) {
          if (signal.aborted) return;
          // Not there, not allowed, or a bad cursor: trying again cannot help.
          if (error instanceof ApiProblemError && [400, 401, 403, 404].includes(error.status)) {
            setStream((s) => ({ ...s, state: 'failed', error }));
            return;
          }
          setStream((s) => ({ ...s, error }));
        }
        if (signal.aborted) return;
        setStream((s) => ({ ...s, state: 'reconnecting' }));
        await new Promise((resolve) => setTimeout(resolve, delayMs));
        delayMs = Math.min(delayMs * 2, 15_000);
      }
      if (!signal.aborted) setStream((s) => ({ ...s, state: 'ended' }));
    };
    void run();
    return () => controller.abort();
  }, [client, rolloutId]);

  return stream;
}
