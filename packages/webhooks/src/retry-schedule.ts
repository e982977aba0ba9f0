/**
 * When a delivery's next attempt is due, as pure functions of what happened. The default schedule is Svix's: the first
 * attempt at once, then after 5 s, 5 min, 30 min, 2 h, 5 h, 10 h and 10 h; after the eighth attempt the message is
 * given up. Each delay gets +-10 % jitter so that the retries of one outage do not arrive together.
 */
export const DEFAULT_RETRY_DELAYS_MS: readonly number[] = [
  5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 36_000_000,
];

/** Share of a delay it may move either way (0.1: +-10 %). */
const JITTER = 0.1;

/**
 * The delay before the next attempt after `attemptsMade` failed attempts (1 after the first), in ms, or null when the
 * schedule is spent. A `Retry-After` the receiver sent (`retryAfterMs`) is honoured: the attempt waits at least that
 * long, but never longer than the schedule's longest step (a receiver cannot park a message for days).
 * `random` returns [0, 1); default Math.random.
 */
export function nextAttemptDelayMs(
  schedule: readonly number[],
  attemptsMade: number,
  options: { retryAfterMs?: number | undefined; random?: () => number } = {},
): number | null {
  const base = schedule[attemptsMade - 1];
  if (base === undefined) return null;
  const random = options.random ?? Math.random;
  const jittered = Math.round(base * (1 - JITTER + 2 * JITTER * random()));
  const longest = Math.max(...schedule);
  const asked = options.retryAfterMs === undefined ? 0 : Math.min(options.retryAfterMs, longest);
  return Math.max(jittered, asked);
}

/**
 * `Retry-After` as a delay in ms from `now`: delta-seconds or an HTTP-date (RFC 9110 10.2.3). Undefined when absent or
 * unreadable, and 0 for a date already past.
 */
export function parseRetryAfter(value: string | undefined, now: Date): number | undefined {
  if (value === undefined) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const at = Date.parse(trimmed);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now.getTime());
}
