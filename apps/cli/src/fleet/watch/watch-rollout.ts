import type { FleetApiClient, Rollout } from '@fleet/api-client';
import { createEventFeed } from './event-feed.ts';
import { buildRecap, exitCodeOf, outcomeOf, recapLines } from './recap.ts';
import type { WatchOutcome } from './recap.ts';
import type { WatchRenderer } from './renderers.ts';
import type { FleetExitCode } from '../exit-codes.ts';

export type WatchOptions = {
  client: FleetApiClient;
  rolloutId: string;
  renderer: WatchRenderer;
  /** How often the rollout is read, in ms. Default 1000. */
  pollMs?: number;
  /** Stop watching (exit 5) after this many ms; the rollout goes on. Default: no limit. */
  timeoutMs?: number | undefined;
  /** Aborted on Ctrl-C: the watch stops, never the rollout. */
  signal: AbortSignal;
};

export type WatchResult = { outcome: WatchOutcome | 'interrupted'; exitCode: FleetExitCode | 130; rollout: Rollout };

/** 128 + SIGINT, as a shell reports a program Ctrl-C ended. */
const INTERRUPTED_EXIT = 130;

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

/**
 * Watches a rollout until it completes, pauses or is cancelled (or the timeout, or Ctrl-C): events as they come,
 * progress redrawn, then the recap with the failure report's causes. API errors (after the client's retries) are
 * thrown to the command, which exits 4.
 */
export async function watchRollout(options: WatchOptions): Promise<WatchResult> {
  const { client, rolloutId, renderer, signal } = options;
  const pollMs = options.pollMs ?? 1000;
  const deadline = options.timeoutMs === undefined ? Infinity : Date.now() + options.timeoutMs;
  const feed = createEventFeed(client, rolloutId, signal);
  let sawAbort = false;
  let rollout = await client.getRollout(rolloutId);
  for (;;) {
    for (const event of await feed.next(rollout)) {
      if (event.type === 'rollout.aborted') sawAbort = true;
      renderer.event(event);
    }
    renderer.progress(rollout);
    const outcome = outcomeOf(rollout, sawAbort) ?? (Date.now() >= deadline ? 'timeout' : undefined);
    if (outcome) {
      const report =
        rollout.counts.failed > 0 ? await client.getReport(rolloutId, { instancesPerGroup: 0 }) : undefined;
      const recap = buildRecap(rollout, outcome, report);
      renderer.finish(recapLines(recap), recap);
      return { outcome, exitCode: exitCodeOf(outcome), rollout };
    }
    await sleep(Math.min(pollMs, Math.max(deadline - Date.now(), 0)), signal);
    const interrupted = (): WatchResult => {
      renderer.note(`stopped watching; rollout ${rolloutId} goes on (fleet rollout watch ${rolloutId} to watch again)`);
      return { outcome: 'interrupted', exitCode: INTERRUPTED_EXIT, rollout };
    };
    if (signal.aborted) return interrupted();
    try {
      rollout = await client.getRollout(rolloutId, { signal });
    } catch (error) {
      if (signal.aborted) return interrupted();
      throw error;
    }
  }
}
