import { ApiNetworkError, ApiProblemError } from '@fleet/api-client';
import type { FleetEvent, Rollout } from '@fleet/api-client';
import { outcomeOf } from './recap.ts';
import type { WatchOutcome } from './recap.ts';
import { finishWatch, interrupted, sleep } from './watch-common.ts';
import type { WatchOptions, WatchResult } from './watch-common.ts';

/** Reconnects in a row before the watch gives up (exit 4); each waits twice the last, from 500 ms to 8 s. */
const MAX_RECONNECTS = 6;
/**
 * After a progress frame says completed or cancelled, how long to wait for the final event and the end of the stream
 * before finishing anyway; after one that says paused (the stream stays open), for the pause's event. In ms.
 */
const FINAL_EVENT_GRACE_MS = 3000;

/** The stream is not served by this API (an older one): the caller watches by polling. */
export class StreamUnavailable extends Error {
  override name = 'StreamUnavailable';
}

/**
 * Watches a rollout on its live event stream (GET /v1/rollouts/:id/events/stream): events printed as they come,
 * progress frames redrawn; reconnects after the last event id (Last-Event-ID) when the stream drops, so no event is
 * lost or printed twice. Ends on completed, cancelled or paused, the deadline, or Ctrl-C.
 */
export async function watchByStream(options: WatchOptions, deadline: number): Promise<WatchResult> {
  const { client, rolloutId, renderer, signal } = options;
  let lastEventId: string | undefined;
  let rollout: Rollout | undefined;
  let sawAbort = false;
  let framesSeen = 0;
  let reconnects = 0;
  const stop = new AbortController();
  const onStop = () => stop.abort();
  signal.addEventListener('abort', onStop, { once: true });
  const deadlineTimer = Number.isFinite(deadline) ? setTimeout(onStop, Math.max(deadline - Date.now(), 0)) : undefined;
  let grace: NodeJS.Timeout | undefined;
  let settled: WatchOutcome | undefined;

  const readStream = async (): Promise<'ended' | 'settled'> => {
    const connection = new AbortController();
    const frames = await client.openRolloutStream(rolloutId, {
      lastEventId,
      signal: AbortSignal.any([stop.signal, connection.signal]),
    });
    if (frames === null) return 'ended';
    reconnects = 0;
    try {
      for await (const frame of frames) {
        framesSeen += 1;
        if (frame.event === 'progress') {
          rollout = JSON.parse(frame.data) as Rollout;
          renderer.progress(rollout);
          const outcome = outcomeOf(rollout, sawAbort);
          if (outcome && !grace) {
            grace = setTimeout(() => {
              settled = outcome;
              connection.abort();
            }, FINAL_EVENT_GRACE_MS);
          }
          continue;
        }
        const event = JSON.parse(frame.data) as FleetEvent;
        if (frame.id) lastEventId = frame.id;
        if (event.type === 'rollout.aborted') sawAbort = true;
        renderer.event(event);
        // A paused rollout's stream stays open: its event is what the grace waited for.
        if (event.type === 'rollout.paused' && rollout?.status === 'paused') return 'settled';
      }
    } catch (error) {
      if (settled && !stop.signal.aborted) return 'settled';
      throw error;
    }
    return settled ? 'settled' : 'ended';
  };

  try {
    for (;;) {
      try {
        await readStream();
        // The stream ended (the final event, a 204, or the API stopping): the rollout as it is now says which.
        rollout = await client.getRollout(rolloutId, { signal: stop.signal });
      } catch (error) {
        if (stop.signal.aborted) break;
        if (error instanceof ApiProblemError && error.code === 'route_not_found' && framesSeen === 0)
          throw new StreamUnavailable('the API has no event stream');
        const transient =
          error instanceof ApiNetworkError ||
          (error instanceof ApiProblemError && [429, 502, 503, 504].includes(error.status));
        if (!transient || reconnects >= MAX_RECONNECTS) throw error;
        reconnects += 1;
        renderer.note(`event stream lost (${error.message}); reconnecting`);
        await sleep(Math.min(500 * 2 ** (reconnects - 1), 8000), stop.signal);
        continue;
      }
      const outcome = outcomeOf(rollout, sawAbort);
      if (outcome) {
        renderer.progress(rollout);
        return await finishWatch(options, rollout, outcome);
      }
      if (grace) {
        clearTimeout(grace);
        grace = undefined;
        settled = undefined;
      }
      // Ended early (the API stopping, a proxy): reconnect after a breath, not in a tight loop.
      await sleep(500, stop.signal);
    }
  } catch (error) {
    if (!stop.signal.aborted) throw error;
  } finally {
    clearTimeout(deadlineTimer);
    clearTimeout(grace);
    signal.removeEventListener('abort', onStop);
  }
  if (signal.aborted) return interrupted(options, rollout);
  const now = await client.getRollout(rolloutId);
  return finishWatch(options, now, outcomeOf(now, sawAbort) ?? 'timeout');
}
