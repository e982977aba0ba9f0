/**
 * The verification sweep keeps to the account's rate: each of its status calls (DescribeMonitoringAgentStatuses or
 * NodeStatusList, 50 ids each) takes its start on the account's schedule in Redis, the one the workers' install calls
 * take theirs on. Against real Redis and the simulator over HTTP, which counts every call of the account's AccessKey
 * per sliding second (maxPerSecondByAccessKeyId; the status calls name no UserId).
 */
import type { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import type { Database } from '@fleet/db';
import { createAccountRateLimiter } from '@fleet/limits';
import type { InstallDriver } from '@fleet/rollout-domain';
import { capturingLogger, instanceIds, uniquePrefix } from '@fleet/testing';
import type { RunningSimulator } from './support.ts';
import {
  ACCESS_KEY_ID,
  ACCESS_KEY_SECRET,
  USER_ID,
  createEnqueuedRollout,
  makeReconciler,
  useReconcilerServices,
} from './support.ts';

/** The account's rate, calls per second; its schedule's burst is 1 (no second ever holds more than RATE + 1). */
const RATE = 5;
const INTERVAL_MS = 1000 / RATE;
/** Timer and clock slack on an elapsed time, ms. */
const SLACK_MS = 20;

const { logger } = capturingLogger({ service: 'verification-rate-test', secrets: [ACCESS_KEY_SECRET] });
const prefix = uniquePrefix('verify-rate');
let db: Database;
let redis: Redis;
let simulator: RunningSimulator;
useReconcilerServices(
  { prefix, logger, scenario: { seed: 'verify-rate-seed' } },
  (services) => ({ db, redis, simulator } = services),
);

/** The account's schedule as a process of its own keeps it (the workers', the reconciler's). */
const accountRate = () => createAccountRateLimiter(redis, { prefix, maxRatePerSecond: RATE, burst: 1 });

/** A rollout of the driver whose instances all succeeded their install call just now: all pending verification. */
async function succeededRollout(ids: string[], driver: InstallDriver): Promise<string> {
  const { rolloutId } = await createEnqueuedRollout(db, redis, prefix, logger, ids, { driver });
  await db.prisma.rolloutInstance.updateMany({
    where: { rolloutId },
    data: { state: 'succeeded', attemptCount: 1, lastRequestId: 'R-rate', finishedAt: new Date() },
  });
  return rolloutId;
}

/** Verifications an earlier test left pending (their agents never came), out of the way of the next sweep. */
async function settleEarlierVerifications(): Promise<void> {
  await db.prisma.rolloutInstance.updateMany({
    where: { verification: 'pending' },
    data: { verification: 'verified' },
  });
}

/** One verification pass, timed. */
async function timedPass() {
  const reconciler = makeReconciler({ db, redis, prefix, logger, cms: simulator.cms, accountRate: accountRate() });
  const started = performance.now();
  const report = (await reconciler.runOnce()).verification;
  const elapsedMs = performance.now() - started;
  await reconciler.stop();
  return { report, elapsedMs };
}

describe('verification calls on the account rate schedule', () => {
  it('400 instances of driver install-monitoring-agent: 8 DescribeMonitoringAgentStatuses calls, 200 ms apart at 5 calls/s', async () => {
    const ids = instanceIds(400, 'i-vra');
    await settleEarlierVerifications();
    await succeededRollout(ids, 'install-monitoring-agent');
    simulator.sim.reset();

    const { report, elapsedMs } = await timedPass();

    expect(report).toMatchObject({ checked: 400, lookupErrors: 0 });
    const stats = simulator.sim.stats();
    expect(stats.byAction['DescribeMonitoringAgentStatuses']).toBe(8);
    expect(stats.byAction['NodeStatusList'] ?? 0).toBe(0);
    // The first call at once, each next one an interval later: the last starts 7 intervals in.
    expect(elapsedMs).toBeGreaterThanOrEqual(7 * INTERVAL_MS - SLACK_MS);
    expect(stats.maxPerSecondByAccessKeyId[ACCESS_KEY_ID]).toBeLessThanOrEqual(RATE + 1);
  });

  it("a node-install sweep alongside a worker's NodeInstall calls: together they keep to the account's 5 calls/s", async () => {
    const ids = instanceIds(250, 'i-vrn');
    await settleEarlierVerifications();
    await succeededRollout(ids, 'node-install');
    simulator.sim.reset();
    // A worker's install calls, each at its start on the same schedule (a limiter of its own, as in another process).
    const workerRate = accountRate();
    const installs = async (count: number) => {
      for (let i = 0; i < count; i++) {
        const waitMs = await workerRate.reserve(USER_ID);
        if (waitMs > 0) await new Promise((resolve) => setTimeout(resolve, waitMs));
        const answer = await simulator.cms.nodeInstall({ userId: USER_ID, instanceId: `i-vrw${i}`, force: true });
        expect(answer.outcome.kind).toBe('success');
      }
    };

    const started = performance.now();
    const [{ report }] = await Promise.all([timedPass(), installs(10)]);
    const elapsedMs = performance.now() - started;

    expect(report).toMatchObject({ checked: 250, lookupErrors: 0 });
    const stats = simulator.sim.stats();
    expect(stats.byAction['NodeStatusList']).toBe(5);
    expect(stats.byAction['NodeInstall']).toBe(10);
    // 15 calls on one schedule: the last starts 14 intervals after the first, whichever of the two made it.
    expect(elapsedMs).toBeGreaterThanOrEqual(14 * INTERVAL_MS - SLACK_MS);
    expect(stats.maxPerSecondByAccessKeyId[ACCESS_KEY_ID]).toBeLessThanOrEqual(RATE + 1);
  });
});
