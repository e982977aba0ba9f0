/**
 * Limits held by three worker processes sharing one Redis and one Postgres, on two 5,000-instance rollouts of
 * different accounts: each rollout's concurrency (the simulator's per-UserId maxInFlight), the global cap (its
 * overall maxInFlight), the per-account rate (the simulator throttles just above it and must never need to), and
 * fairness (neither rollout starves while the other runs).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countInstances } from '@fleet/db';
import { instanceIds, spawnApp } from '@fleet/testing';
import type { AppProcess } from '@fleet/testing';
import type { WorkerHarness } from './support.ts';
import { ACCESS_KEY_ID, ACCESS_KEY_SECRET, startHarness } from './support.ts';

const ACCOUNT_A = '1111111111111111';
const ACCOUNT_B = '2222222222222222';
/** Rollout A's own limit binds (it is below its fair share of the global cap)... */
const CONCURRENCY_A = 20;
/** ...while rollout B could run more than the global cap leaves it, so the cap binds. */
const CONCURRENCY_B = 60;
const GLOBAL_CAP = 40;
const RATE = 300;
const INSTANCES = 5000;

let h: WorkerHarness;
const workers: AppProcess[] = [];
beforeAll(async () => {
  // The simulator throttles an account just above our configured rate: any overshoot would show as Throttling.
  h = await startHarness({ latencyMs: 250, throttleQps: RATE + 15 });
});
afterAll(async () => {
  await Promise.all(workers.map((w) => w.kill()));
  await h.close();
});

describe('limits across three worker processes', () => {
  it('hold the per-rollout concurrency, the global cap and the per-account rate, and share the cap fairly', async () => {
    const a = await h.createRollout(instanceIds(INSTANCES, 'i-a'), {
      concurrency: CONCURRENCY_A,
      userId: ACCOUNT_A,
      retry: { maxAttempts: 5 },
    });
    const b = await h.createRollout(instanceIds(INSTANCES, 'i-b'), {
      concurrency: CONCURRENCY_B,
      userId: ACCOUNT_B,
      retry: { maxAttempts: 5 },
    });
    const env = {
      DATABASE_URL: h.dbUrl,
      REDIS_URL: 'redis://127.0.0.1:6379',
      QUEUE_PREFIX: h.prefix,
      CMS_ENDPOINT: h.simUrl,
      CMS_ACCESS_KEY_ID: ACCESS_KEY_ID,
      CMS_ACCESS_KEY_SECRET: ACCESS_KEY_SECRET,
      GLOBAL_CONCURRENCY: String(GLOBAL_CAP),
      ACCOUNT_RATE_LIMIT_RPS: String(RATE),
      ACCOUNT_RATE_BURST: '1',
      ROLLOUT_POLL_MS: '200',
      LOG_LEVEL: 'warn',
    };
    for (let i = 0; i < 3; i++) workers.push(spawnApp('worker', { ...env, WORKER_ID: `limits-${i}` }));

    // Fairness: when the first rollout completes, the other must be well along too.
    let otherShareAtFirstDone = -1;
    const deadline = Date.now() + 240_000;
    for (;;) {
      const [ra, rb] = await Promise.all([
        h.db.prisma.rollout.findUniqueOrThrow({ where: { id: a } }),
        h.db.prisma.rollout.findUniqueOrThrow({ where: { id: b } }),
      ]);
      if (otherShareAtFirstDone < 0 && (ra.status === 'completed' || rb.status === 'completed')) {
        const other = ra.status === 'completed' ? b : a;
        const counts = await countInstances(h.db, other);
        otherShareAtFirstDone = (counts.succeeded + counts.failed) / INSTANCES;
      }
      if (ra.status === 'completed' && rb.status === 'completed') break;
      if (process.env.DEBUG_PROGRESS) console.log(ra.status, rb.status, JSON.stringify(h.sim.stats().requests));
      if (Date.now() > deadline) throw new Error(`rollouts not completed: ${ra.status} ${rb.status}`);
      await new Promise((r) => setTimeout(r, 250));
    }

    const stats = h.sim.stats();
    expect(stats.requests).toBe(2 * INSTANCES);
    // The limits held...
    expect(stats.maxInFlight).toBeLessThanOrEqual(GLOBAL_CAP);
    expect(stats.maxInFlightByUserId[ACCOUNT_A]).toBeLessThanOrEqual(CONCURRENCY_A);
    expect(stats.maxInFlightByUserId[ACCOUNT_B]).toBeLessThanOrEqual(GLOBAL_CAP);
    expect(stats.throttled).toBe(0);
    const perSecond = await h.db.prisma.$queryRaw<{ user_id: string; n: bigint }[]>`
      SELECT r.user_id, max(c.n) AS n FROM (
        SELECT a.rollout_id, date_trunc('second', a.started_at) AS s, count(*) AS n FROM install_attempt a GROUP BY 1, 2) c
      JOIN rollout r ON r.id = c.rollout_id GROUP BY r.user_id`;
    for (const row of perSecond) expect(Number(row.n)).toBeLessThanOrEqual(RATE + 1);
    // ...and they were reached, so holding them meant something: A ran at its own limit, the two together at the cap.
    expect(stats.maxInFlightByUserId[ACCOUNT_A]).toBeGreaterThanOrEqual(CONCURRENCY_A - 2);
    expect(stats.maxInFlight).toBeGreaterThanOrEqual(GLOBAL_CAP - 4);
    // Fairness: the two shared the cap, so when one finished the other was nearly done too.
    expect(otherShareAtFirstDone).toBeGreaterThan(0.6);
    const attempts = await h.db.prisma.installAttempt.count();
    expect(attempts).toBe(2 * INSTANCES);
    const workersUsed = await h.db.prisma.installAttempt.groupBy({ by: ['workerId'], _count: true });
    expect(workersUsed).toHaveLength(3);
  }, 300_000);
});
