import { watchByPolling } from './watch-polling.ts';
import type { WatchOptions, WatchResult } from './watch-common.ts';

export type { WatchOptions, WatchResult } from './watch-common.ts';

/**
 * Watches a rollout until it completes, pauses or is cancelled (or the timeout, or Ctrl-C): events as they come,
 * progress redrawn, then the recap with the failure report's causes. API errors (after retries) are thrown to the
 * command, which exits 4.
 *
 * It polls GET /v1/rollouts/:id and the event timeline: the live event stream on main sends only progress frames
 * so far (its events read is not wired to the event log yet), and a watch without events would not do.
 */
export async function watchRollout(options: WatchOptions): Promise<WatchResult> {
  const deadline = options.timeoutMs === undefined ? Infinity : Date.now() + options.timeoutMs;
  return watchByPolling(options, deadline);
}
