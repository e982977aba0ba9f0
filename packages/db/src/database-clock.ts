import type { Database } from './client.ts';

/**
 * Postgres's time, read without a round trip per read: the offset between this host's clock and Postgres's is
 * measured (half the round trip counted as the way there) at start and every `refreshMs`, and added to the local
 * clock. Processes on hosts whose clocks disagree by seconds then agree on a maintenance window's edges to within a
 * round trip. Until the first measurement, and while Postgres does not answer, the last offset (0 at first) holds.
 */
export type DatabaseClock = {
  now(): Date;
  /** Measures once and then every refreshMs. */
  start(): Promise<void>;
  /** Idempotent. */
  stop(): void;
};

export function createDatabaseClock(db: Database, options: { refreshMs?: number } = {}): DatabaseClock {
  const refreshMs = options.refreshMs ?? 30_000;
  let offsetMs = 0;
  let timer: NodeJS.Timeout | null = null;
  async function measure(): Promise<void> {
    const sentAt = Date.now();
    const { rows } = await db.pool.query<{ now: Date }>('SELECT clock_timestamp() AS now');
    const receivedAt = Date.now();
    offsetMs = rows[0]!.now.getTime() - (sentAt + receivedAt) / 2;
  }
  return {
    now: () => new Date(Date.now() + offsetMs),
    async start() {
      await measure().catch(() => undefined);
      if (timer) return;
      timer = setInterval(() => void measure().catch(() => undefined), refreshMs);
      timer.unref();
    },
    stop() {
      if (timer) clearInterval(timer);
      timer = null;
    },
  };
}
