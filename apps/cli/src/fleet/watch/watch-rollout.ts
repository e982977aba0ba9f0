import { watchByPolling } from './watch-polling.ts';
import { StreamUnavailable, watchByStream } from './watch-stream.ts';
import type { WatchOptions, WatchResult } from './watch-common.ts';

export type { WatchOptions, WatchResult } from './watch-common.ts';

/**
 * Watches a rollout until it completes, pauses or is cancelled (or the timeout, or Ctrl-C): events as they come,
 * progress redrawn, then the recap with the failure report's causes. On the live event stream; by polling on an API
 * that has none. API errors (after retries) are thrown to the command, which exits 4.
 */
export async function watchRollout(options: WatchOptions): Promise<WatchResult> {
  const deadline = options.timeoutMs === undefined ? Infinity : Date.now() + options.timeoutMs;
  try {
    return await watchByStream(options, deadline);
  } catch (error) {
    if (!(error instanceof StreamUnavailable)) throw error;
    return watchByPolling(options, deadline);
  }
}
