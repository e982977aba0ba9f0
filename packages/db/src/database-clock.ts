import type { Database } from './client.ts';

/**
 * Postgres's time, read without a round trip per read: the offset between this host's clock and Postgres's is
 * measured at start and every `refreshMs`, and added to the local clock. Processes on hosts whose clocks disagree by
 * seconds then agree on a maintenance window's edges, and on the account's call schedule, to within a round trip.
 * Until the first measurement, and while Postgres does not answer, the last offset (0 at first) holds.
 *
 * A measurement is the best of `samples` round trips (as NTP keeps the sample with the least delay): the offset is
 * taken from the shortest one, half of it counted as the way there, so its error is at most half that round trip.
 * One round trip alone, on a busy host, could be tens of milliseconds with the wait all on one side: two workers
 * whose offsets were wrong by 20 ms in opposite ways put calls of one account 40 ms closer than the schedule says,
 * which at 500 calls a second is 20 calls more in some second.
 *
 * A new measurement replaces the one in force only if its error bound is no larger than the old one's, which grows
 * with its age by `driftPpm` (default 15 parts per million, the frequency error NTP allows a clock: 0.45 ms in the
 * 30 s between refreshes). On a busy host even the best of five round trips may be long, because the reply waits for
 * the process's event loop: two workers of one host, where the true offset is 0, measured -16.4 and -1.6 ms (round
 * trips of 33.6 and 5.1 ms) during the rate bench's 20 accounts, 12-08, and that run had a second of 52 starts for a
 * limit of 51. So a measurement taken while the host was quiet stays in force through the busy minutes after it.
 *
 * Both sides are read to the fraction of a millisecond: Postgres's clock_timestamp() to the microsecond, this host's
 * wall clock as the process's time origin plus the monotonic clock (Date.now() reads whole milliseconds, and that
 * truncation alone put two workers' offsets up to a millisecond apart on one host, where the true offset is 0: with
 * the call schedule's one millisecond of slack, a second with one call more than rate + burst). The monotonic clock
 * does not follow the wall clock's adjustments, but every refresh measures the offset anew.
 */
export type DatabaseClock = {
  now(): Date;
  /** Postgres's time in epoch ms, to the fraction of a millisecond (a Date keeps whole ones). */
  nowMs(): number;
  /** Measures once and then every refreshMs. */
  start(): Promise<void>;
  /** Measures now (as each refresh does); the offset changes only if this measurement's error bound is no larger. */
  refresh(): Promise<void>;
  /** Idempotent. */
  stop(): void;
  /** The measurement in force: the offset added to this host's clock, and the round trip it was taken from (ms). */
  readonly measured: { offsetMs: number; roundTripMs: number } | null;
};

/** This host's wall clock in epoch ms to the fraction of a millisecond. */
const hostNowMs = () => performance.timeOrigin + performance.now();

export function createDatabaseClock(
  db: Database,
  options: { refreshMs?: number; samples?: number; driftPpm?: number } = {},
): DatabaseClock {
  const refreshMs = options.refreshMs ?? 30_000;
  const samples = Math.max(1, options.samples ?? 5);
  const driftPerMs = (options.driftPpm ?? 15) / 1_000_000;
  let offsetMs = 0;
  let measured: { offsetMs: number; roundTripMs: number } | null = null;
  /** When the measurement in force was taken (performance.now()). */
  let measuredAt = 0;
  /** How far off the measurement in force may be now, ms: half its round trip, plus what a clock drifts since. */
  const errorBound = () =>
    measured === null ? Infinity : measured.roundTripMs / 2 + (performance.now() - measuredAt) * driftPerMs;
  let timer: NodeJS.Timeout | null = null;
  async function sample(): Promise<{ offsetMs: number; roundTripMs: number }> {
    const sentAt = performance.now();
    const { rows } = await db.pool.query<{ ms: string }>(
      `SELECT (extract(epoch FROM clock_timestamp()) * 1000)::text AS ms`,
    );
    const receivedAt = performance.now();
    // Local wall time at the round trip's midpoint, from the monotonic clock (a wall-clock step mid-sample cannot skew it).
    const localMid = performance.timeOrigin + (sentAt + receivedAt) / 2;
    return { offsetMs: Number(rows[0]!.ms) - localMid, roundTripMs: receivedAt - sentAt };
  }
  async function measure(): Promise<void> {
    let best: { offsetMs: number; roundTripMs: number } | null = null;
    for (let i = 0; i < samples; i++) {
      const s = await sample();
      if (!best || s.roundTripMs < best.roundTripMs) best = s;
    }
    if (!best || best.roundTripMs / 2 > errorBound()) return;
    measured = best;
    measuredAt = performance.now();
    offsetMs = best.offsetMs;
  }
  return {
    now: () => new Date(hostNowMs() + offsetMs),
    nowMs: () => hostNowMs() + offsetMs,
    async start() {
      await measure().catch(() => undefined);
      if (timer) return;
      timer = setInterval(() => void measure().catch(() => undefined), refreshMs);
      timer.unref();
    },
    refresh: () => measure().catch(() => undefined),
    stop() {
      if (timer) clearInterval(timer);
      timer = null;
    },
    get measured() {
      return measured;
    },
  };
}
