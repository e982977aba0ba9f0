import { createEventFeed } from './event-feed.ts';
import { outcomeOf } from './recap.ts';
import { finishWatch, interrupted, sleep } from './watch-common.ts';
import type { WatchOptions, WatchResult } from './watch-common.ts';

/**
 * The watch of an API without the event stream: reads GET /v1/rollouts/:id every `pollMs` and the events since the
 * last read (event-feed.ts), until the rollout completes, pauses or is cancelled, the deadline, or Ctrl-C.
 */
export async function watchByPolling(options: WatchOptions, deadline: number): Promise<WatchResult> {
  const { client, rolloutId, renderer, signal } = options;
  const pollMs = options.pollMs ?? 1000;
  const feed = createEventFeed(client, rolloutId, signal);
  let sawAbort = false;
  let rollout = await client.getRollout(rolloutId, { signal });
  try {
    for (;;) {
      for (const event of await feed.next(rollout)) {
        if (event.type === 'rollout.aborted') sawAbort = true;
        renderer.event(event);
      }
      renderer.progress(rollout);
      const outcome = outcomeOf(rollout, sawAbort) ?? (Date.now() >= deadline ? 'timeout' : undefined);
      if (outcome) return await finishWatch(options, rollout, outcome);
      await sleep(Math.min(pollMs, Math.max(deadline - Date.now(), 0)), signal);
      if (signal.aborted) return interrupted(options, rollout);
      rollout = await client.getRollout(rolloutId, { signal });
    }
  } catch (error) {
    if (signal.aborted) return interrupted(options, rollout);
    throw error;
  }
}
