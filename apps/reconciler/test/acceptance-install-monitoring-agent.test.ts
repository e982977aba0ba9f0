/**
 * Acceptance of the install-monitoring-agent driver (InstallMonitoringAgent, up to 10 instances per call): three real
 * worker processes and the real reconciler on a private Redis, the simulator with 5% of hosts without Cloud
 * Assistant. A 5,000-instance rollout completes in at most ceil(n/10) calls per attempt round, each instance with an
 * attempt row per call it was in; then the same with a worker killed (-9) during calls, and with Redis flushed, as
 * acceptance-kill and acceptance-flushall prove for NodeInstall (their process helpers and checks, from support.ts).
 *
 * Hosts without Cloud Assistant: InstallMonitoringAgent accepts them like the others (it answers nothing per
 * instance), so at the call level they succeed here; flagging them (cloud_assistant_missing) is verification's work:
 * with a verification window of VERIFY_WINDOW_MS (short here), the reconciler's sweep fails each of them, and only
 * them, with a manual-install flag of that reason and the failure cause of its own.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isNoCloudAssistantInstance } from '@fleet/cms-simulator';
import { createDatabase, listFailureCauseCounts } from '@fleet/db';
import type { Database } from '@fleet/db';
import { createRedisConnection } from '@fleet/queue';
import { failureCauseOf } from '@fleet/rollout-domain';
import { capturingLogger, createTestDatabase, instanceIds, uniquePrefix, waitFor } from '@fleet/testing';
import type { TestDatabase } from '@fleet/testing';
import type { AppProcess, PrivateRedis } from './support.ts';
import {
  ACCESS_KEY_SECRET,
  appEnv,
  createEnqueuedRollout,
  expectEveryCallOneAttemptRow,
  spawnApp,
  startPrivateRedis,
  startSimulator,
} from './support.ts';

const SEED = 'batch-seed';
const CONCURRENCY = 100;
const CALL_TIMEOUT_MS = 3000;
const DRIVER = 'install-monitoring-agent' as const;
const NO_CLOUD_ASSISTANT_RATE = 0.05;
/**
 * The reconciler's verification window, ms: short, so that a host without Cloud Assistant fails within the test
 * (its agent never comes), and still some 30 times the simulator's install time, so that every other host runs by
 * then.
 */
const VERIFY_WINDOW_MS = 3000;
/** The cause the failure report groups those hosts under (failureCauseOf of a cloud_assistant_missing failure). */
const CLOUD_ASSISTANT_CAUSE =
  'agent:not_installed: InstallMonitoringAgent succeeded but the host has no Cloud Assistant client ' +
  '(AutoInstall false), so the agent was never installed';

const { logger } = capturingLogger({ service: 'batch-acceptance', secrets: [ACCESS_KEY_SECRET] });
let privateRedis: PrivateRedis;
let testDb: TestDatabase;
let db: Database;
let redis: Redis;
let simulator: Awaited<ReturnType<typeof startSimulator>>;
const processes: AppProcess[] = [];
const live = new Map<string, AppProcess>();
let reconciler: AppProcess;
const prefix = uniquePrefix('batch');
let env: Record<string, string>;

function startWorker(workerId: string): void {
  const worker = spawnApp('worker', { ...env, WORKER_ID: workerId });
  live.set(workerId, worker);
  processes.push(worker);
}

beforeAll(async () => {
  [privateRedis, testDb] = await Promise.all([startPrivateRedis(), createTestDatabase()]);
  db = createDatabase({ url: testDb.url, poolMax: 5 });
  redis = createRedisConnection(privateRedis.url, 'control', logger);
  simulator = await startSimulator({
    seed: SEED,
    noCloudAssistantRate: NO_CLOUD_ASSISTANT_RATE,
    latencyMs: 50,
    installDurationMs: 100,
  });
  env = appEnv(
    {
      databaseUrl: testDb.url,
      redisUrl: privateRedis.url,
      prefix,
      simulatorUrl: simulator.url,
      callTimeoutMs: CALL_TIMEOUT_MS,
    },
    {
      LOCK_DURATION_MS: '2000',
      WORKER_CONCURRENCY: String(CONCURRENCY),
      DB_POOL_MAX: '10',
      RECONCILE_INTERVAL_MS: '500',
      RECONCILE_STALE_ATTEMPT_MS: String(CALL_TIMEOUT_MS + 5000),
      RECONCILER_ID: 'batch-reconciler',
      VERIFY_WINDOW_MS: String(VERIFY_WINDOW_MS),
    },
  );
  for (const id of ['batch-w1', 'batch-w2', 'batch-w3']) startWorker(id);
  reconciler = spawnApp('reconciler', { ...env, LOG_LEVEL: 'info' });
  processes.push(reconciler);
}, 60_000);

afterAll(async () => {
  if (process.env.ACCEPTANCE_LOG_DIR) {
    const { writeFileSync } = await import('node:fs');
    processes.forEach((p, i) => writeFileSync(`${process.env.ACCEPTANCE_LOG_DIR}/batch-${i + 1}.log`, p.output()));
  }
  await Promise.all(processes.map((p) => p.kill()));
  await redis?.quit().catch(() => undefined);
  await simulator?.close();
  await db?.close();
  await testDb?.drop();
  await privateRedis?.stop();
});

async function startRollout(count: number, idPrefix: string) {
  const ids = instanceIds(count, idPrefix);
  // force=false: a call repeated after an unknown outcome must not reinstall a running agent.
  const { rolloutId } = await createEnqueuedRollout(db, redis, prefix, logger, ids, {
    concurrency: CONCURRENCY,
    maxAttempts: 4,
    force: false,
    driver: DRIVER,
  });
  const finished = () =>
    db.prisma.rolloutInstance.count({ where: { rolloutId, state: { in: ['succeeded', 'failed'] } } });
  return { rolloutId, finished };
}

async function completed(rolloutId: string): Promise<void> {
  await waitFor(
    'the rollout completed',
    async () => (await db.prisma.rollout.findUniqueOrThrow({ where: { id: rolloutId } })).status === 'completed',
    { timeoutMs: 120_000, intervalMs: 200 },
  );
}

/** Checks every instance against the simulator's InstallMonitoringAgent counts, and the calls' shape; the calls. */
async function expectCallsAndRows(rolloutId: string, count: number) {
  await expectEveryCallOneAttemptRow(db, simulator, rolloutId, {
    seed: SEED,
    failureRate: 0,
    instances: count,
    driver: DRIVER,
  });
  const attempts = await db.prisma.installAttempt.findMany({
    where: { rolloutId },
    select: { callId: true, attemptNo: true, signatureNonce: true },
  });
  const calls = new Map<string, { nonces: Set<string | null>; size: number }>();
  for (const a of attempts) {
    expect(a.callId).not.toBeNull();
    const call = calls.get(a.callId!) ?? { nonces: new Set(), size: 0 };
    call.nonces.add(a.signatureNonce);
    call.size++;
    calls.set(a.callId!, call);
  }
  for (const call of calls.values()) {
    expect(call.nonces.size).toBe(1);
    expect(call.size).toBeLessThanOrEqual(10);
  }
  return { attempts, calls };
}

/**
 * Waits for verification to decide every instance of the rollout, then checks that the hosts without Cloud Assistant
 * (the simulator's seeded 5%), and no other, failed it as cloud_assistant_missing: each its instance row, an open
 * manual-install flag of that reason, and that failure cause. Answers how many they are.
 */
async function expectHostsWithoutCloudAssistantFlagged(rolloutId: string): Promise<number> {
  const instances = await db.prisma.rolloutInstance.findMany({ where: { rolloutId }, select: { instanceId: true } });
  const withoutCloudAssistant = new Set(
    instances.map((i) => i.instanceId).filter((id) => isNoCloudAssistantInstance(SEED, id, NO_CLOUD_ASSISTANT_RATE)),
  );
  expect(withoutCloudAssistant.size).toBeGreaterThan(0);
  await waitFor(
    'verification decided every instance',
    async () =>
      (await db.prisma.rolloutInstance.count({
        where: { rolloutId, verification: { in: ['verified', 'failed'] } },
      })) === instances.length,
    { timeoutMs: VERIFY_WINDOW_MS + 30_000, intervalMs: 250 },
  );
  const failed = await db.prisma.rolloutInstance.findMany({ where: { rolloutId, verification: 'failed' } });
  expect(new Set(failed.map((i) => i.instanceId))).toEqual(withoutCloudAssistant);
  for (const instance of failed) {
    expect(instance, instance.instanceId).toMatchObject({
      state: 'succeeded',
      agentStatus: 'not_installed',
      needsManualInstall: true,
      manualInstallReason: 'cloud_assistant_missing',
    });
    expect(failureCauseOf(instance), instance.instanceId).toMatchObject({
      cause: CLOUD_ASSISTANT_CAUSE,
      kind: 'verification_failed',
    });
  }
  const flags = await db.prisma.manualInstallFlag.findMany({ where: { rolloutId } });
  expect(new Set(flags.map((f) => f.instanceId))).toEqual(withoutCloudAssistant);
  for (const flag of flags)
    expect(flag, flag.instanceId).toMatchObject({ status: 'open', reason: 'cloud_assistant_missing' });
  // The failure report: one group, of them all.
  expect(await listFailureCauseCounts(db, rolloutId)).toEqual([
    expect.objectContaining({
      cause: CLOUD_ASSISTANT_CAUSE,
      kind: 'verification_failed',
      manualInstallReason: 'cloud_assistant_missing',
      count: withoutCloudAssistant.size,
    }),
  ]);
  return withoutCloudAssistant.size;
}

describe('install-monitoring-agent driver under three worker processes', () => {
  it('completes 5,000 instances in at most ceil(n/10) calls per attempt round, an attempt row per call per instance', async () => {
    const INSTANCES = 5000;
    const before = simulator.sim.stats().monitoringAgent.requests;
    const { rolloutId } = await startRollout(INSTANCES, 'i-ba');
    await completed(rolloutId);
    const { attempts, calls } = await expectCallsAndRows(rolloutId, INSTANCES);
    expect(simulator.sim.stats().monitoringAgent.requests - before).toBe(calls.size);
    const rounds = new Map<number, { attempts: number; calls: Set<string> }>();
    for (const a of attempts) {
      const round = rounds.get(a.attemptNo) ?? { attempts: 0, calls: new Set() };
      round.attempts++;
      round.calls.add(a.callId!);
      rounds.set(a.attemptNo, round);
    }
    for (const [no, round] of rounds) {
      expect(round.calls.size, `round ${no}`).toBeLessThanOrEqual(Math.ceil(round.attempts / 10));
    }
    expect(simulator.sim.stats().monitoringAgent.maxInstancesInFlight).toBeLessThanOrEqual(CONCURRENCY);
    const flagged = await expectHostsWithoutCloudAssistantFlagged(rolloutId);
    process.stdout.write(
      `install-monitoring-agent acceptance: ${INSTANCES} instances in ${calls.size} calls, ` +
        `${flagged} hosts without Cloud Assistant flagged cloud_assistant_missing ` +
        `(${[...rounds].map(([no, r]) => `round ${no}: ${r.calls.size} calls for ${r.attempts} attempts`).join(', ')})\n`,
    );
  }, 180_000);

  it('kill -9 of a worker during calls: completes, calls = attempt rows per instance, nothing installed twice', async () => {
    const INSTANCES = 2000;
    const { rolloutId, finished } = await startRollout(INSTANCES, 'i-bk');
    await waitFor('20% done', async () => (await finished()) >= INSTANCES * 0.2, { timeoutMs: 60_000, intervalMs: 20 });
    const busy = await waitFor(
      'a worker making calls',
      async () => {
        const rows = await db.prisma.installAttempt.groupBy({
          by: ['workerId'],
          where: { rolloutId, finishedAt: null, workerId: { in: [...live.keys()] } },
          _count: true,
        });
        const top = rows.sort((a, b) => b._count - a._count)[0];
        return top && top._count > 0 ? { workerId: top.workerId!, inFlight: top._count } : null;
      },
      { timeoutMs: 30_000, intervalMs: 5 },
    );
    const worker = live.get(busy.workerId)!;
    live.delete(busy.workerId);
    process.kill(worker.pid, 'SIGKILL');
    await worker.kill();
    expect(await finished()).toBeLessThan(INSTANCES);
    await completed(rolloutId);
    const { attempts } = await expectCallsAndRows(rolloutId, INSTANCES);
    // Every attempt is an answer, or a proven lost one: none given up without knowing whether its call arrived.
    const abandoned = await db.prisma.installAttempt.count({
      where: { rolloutId, outcome: 'abandoned', NOT: { outcomeKind: 'answer_lost' } },
    });
    expect(abandoned).toBe(0);
    // The killed worker's calls were taken over by replaying them (answered, or proven lost).
    const replayed = await db.prisma.installAttempt.count({ where: { rolloutId, replayedBy: { not: null } } });
    expect(replayed).toBeGreaterThan(0);
    process.stdout.write(
      `install-monitoring-agent kill -9: killed ${busy.workerId} with ${busy.inFlight} instances in flight; ` +
        `${attempts.length} attempt rows = simulator calls per instance\n`,
    );
    startWorker('batch-w4');
  }, 150_000);

  it('FLUSHALL mid-rollout: completes, calls = attempt rows per instance, the concurrency held', async () => {
    const INSTANCES = 2000;
    const { rolloutId, finished } = await startRollout(INSTANCES, 'i-bf');
    await waitFor('a quarter done', async () => (await finished()) >= INSTANCES / 4, {
      timeoutMs: 60_000,
      intervalMs: 20,
    });
    expect(await redis.flushall()).toBe('OK');
    expect(await finished()).toBeLessThan(INSTANCES);
    await completed(rolloutId);
    await expectCallsAndRows(rolloutId, INSTANCES);
    expect(simulator.sim.stats().monitoringAgent.maxInstancesInFlight).toBeLessThanOrEqual(CONCURRENCY);
    // The reconciler is what brought the lost jobs back, per instance.
    const repaired = reconciler
      .output()
      .split('\n')
      .some((line) => line.includes('re-enqueued pending instances whose job was missing') && line.includes(rolloutId));
    expect(repaired).toBe(true);
    for (const p of processes) expect(p.output()).not.toContain(ACCESS_KEY_SECRET);
  }, 150_000);
});
