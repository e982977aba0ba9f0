import { describe, expect, it } from 'vitest';
import { useTestDatabase } from './support.ts';
import { createDatabaseClock } from '../src/index.ts';
import type { Database } from '../src/index.ts';

let db: Database;
useTestDatabase({ poolMax: 2 }, (opened) => {
  db = opened;
});

/**
 * The same database, its queries held `delayMs` before they are sent, except every `every`th one, while `slow()`
 * (default always).
 */
function slowOnTheWayThere(real: Database, delayMs: number, every: number, slow = () => true): Database {
  let n = 0;
  const pool = new Proxy(real.pool, {
    get(target, prop, receiver) {
      if (prop !== 'query') return Reflect.get(target, prop, receiver) as unknown;
      return async (...args: Parameters<typeof target.query>) => {
        n += 1;
        if (slow() && n % every !== 0) await new Promise((resolve) => setTimeout(resolve, delayMs));
        return (target.query as (...a: unknown[]) => Promise<unknown>)(...args);
      };
    },
  });
  return { ...real, pool } as Database;
}

describe('createDatabaseClock', () => {
  it('agrees with Postgres on the same host to within half its best round trip', async () => {
    const clock = createDatabaseClock(db, { refreshMs: 60_000 });
    await clock.start();
    clock.stop();
    const measured = clock.measured!;
    expect(measured).not.toBeNull();
    // Postgres runs on this host: the true offset is 0 (to within how far the process's time origin is from the wall
    // clock, well under a millisecond), the error at most half the round trip it was taken from.
    expect(Math.abs(measured.offsetMs)).toBeLessThanOrEqual(measured.roundTripMs / 2 + 0.5);
    expect(Math.abs(clock.nowMs() - clock.now().getTime())).toBeLessThan(1);
  });

  it('reads to the fraction of a millisecond, so that two processes on one host agree to well under one', async () => {
    // Two clocks measured one after the other, as two workers would: with Date.now() (whole milliseconds) their
    // offsets differed by up to a millisecond; now only by their round trips.
    const one = createDatabaseClock(db, { refreshMs: 60_000 });
    const two = createDatabaseClock(db, { refreshMs: 60_000 });
    await one.start();
    await two.start();
    one.stop();
    two.stop();
    const worstError = (one.measured!.roundTripMs + two.measured!.roundTripMs) / 2;
    expect(Math.abs(one.nowMs() - two.nowMs())).toBeLessThanOrEqual(worstError + 0.05);
    const readings = Array.from({ length: 50 }, () => one.nowMs());
    expect(readings.some((ms) => !Number.isInteger(ms))).toBe(true);
  });

  it('takes the offset from the shortest of its round trips, not from one delayed on the way there', async () => {
    // Four of five queries wait 60 ms before they leave: a round trip of theirs, halved, puts Postgres's clock 30 ms
    // behind. The clock keeps the undelayed one.
    const clock = createDatabaseClock(slowOnTheWayThere(db, 60, 5), { refreshMs: 60_000, samples: 5 });
    await clock.start();
    clock.stop();
    const measured = clock.measured!;
    expect(measured.roundTripMs).toBeLessThan(60);
    expect(Math.abs(measured.offsetMs)).toBeLessThan(10);
    expect(Math.abs(clock.now().getTime() - Date.now())).toBeLessThan(10);
  });

  it('keeps a measurement from a quiet moment through a busy one, whose every round trip is long', async () => {
    let busy = false;
    // Every query of a busy moment waits 60 ms before it leaves: its best round trip, halved, is 30 ms off.
    const clock = createDatabaseClock(
      slowOnTheWayThere(db, 60, Number.MAX_SAFE_INTEGER, () => busy),
      { refreshMs: 60_000 },
    );
    await clock.start();
    clock.stop();
    const quiet = clock.measured!;
    expect(quiet.roundTripMs).toBeLessThan(30);
    busy = true;
    await clock.refresh();
    expect(clock.measured).toEqual(quiet);
    expect(Math.abs(clock.now().getTime() - Date.now())).toBeLessThan(10);
  });

  it('takes a newer measurement once the old one has aged past it (the clocks may have drifted since)', async () => {
    let busy = false;
    // A drift of 1 ms per ms: 50 ms after the quiet measurement, its bound is past the busy one's 30 ms.
    const clock = createDatabaseClock(
      slowOnTheWayThere(db, 60, Number.MAX_SAFE_INTEGER, () => busy),
      { refreshMs: 60_000, driftPpm: 1_000_000 },
    );
    await clock.start();
    clock.stop();
    const quiet = clock.measured!;
    busy = true;
    await new Promise((resolve) => setTimeout(resolve, 50));
    await clock.refresh();
    expect(clock.measured!.roundTripMs).toBeGreaterThanOrEqual(60);
    expect(clock.measured).not.toEqual(quiet);
  });

  it("is this host's clock while Postgres has never answered", async () => {
    const broken = {
      ...db,
      pool: { query: () => Promise.reject(new Error('connection refused')) },
    } as unknown as Database;
    const clock = createDatabaseClock(broken, { refreshMs: 60_000 });
    await clock.start();
    clock.stop();
    expect(clock.measured).toBeNull();
    expect(Math.abs(clock.now().getTime() - Date.now())).toBeLessThan(5);
  });
});
