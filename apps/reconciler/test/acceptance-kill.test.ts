/**
 * Acceptance: `kill -9` of a worker process while it is making NodeInstall calls, twice in one rollout, with the
 * real reconciler process running. The rollout completes; no instance is final twice; the attempt rows match the
 * calls the simulator counted for each instance, exactly; and no instance is installed twice.
 *
 * How rows and calls stay equal although a row is written before its call (a call must never go unrecorded): each
 * attempt's request is signed with a nonce and timestamp stored on its row. A worker that takes over the attempt of
 * a killed worker sends exactly that request again. If the killed worker's request had reached CloudMonitor, the
 * replay is refused with SignatureNonceUsed (a gateway refusal, not a call) and the attempt is closed as
 * `answer_lost`; if it had not, the replay is the attempt's one call and its answer is recorded on that row.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isFailingInstance } from '@fleet/cms-simulator';
import { createDatabase } from '@fleet/db';
import type { Database } from '@fleet/db';
import { createRedisConnection } from '@fleet/queue';
import { capturingLogger, createTestDatabase, instanceIds, uniquePrefix, waitFor } from '@fleet/testing';
import type { TestDatabase } from '@fleet/testing';
import type { AppProcess, PrivateRedis } from './support.ts';
import {
  ACCESS_KEY_SECRET,
  appEnv,
  createEnqueuedRollout,
  spawnApp,
  startPrivateRedis,
  startSimulator,
} from './support.ts';

const SEED = 'kill-seed';
const FAILURE_RATE = 0.05;
const INSTANCES = 1500;
const CONCURRENCY = 40;
// Long enough that no call times out on a loaded machine: an attempt that timed out cannot say whether its call
// arrived, and this test compares rows with calls exactly.
const CALL_TIMEOUT_MS = 3000;

const { logger } = capturingLogger({ service: 'kill-test', secrets: [ACCESS_KEY_SECRET] });
let privateRedis: PrivateRedis;
let testDb: TestDatabase;
let db: Database;
let redis: Redis;
let simulator: Awaited<ReturnType<typeof startSimulator>>;
const processes: AppProcess[] = [];
const prefix = uniquePrefix('kill');
let env: Record<string, string>;

beforeAll(async () => {
  [privateRedis, testDb] = await Promise.all([startPrivateRedis(), createTestDatabase()]);
  db = createDatabase({ url: testDb.url, poolMax: 5 });
  redis = createRedisConnection(privateRedis.url, 'control', logger);
  simulator = await startSimulator({ seed: SEED, failureRate: FAILURE_RATE, latencyMs: 50, installDurationMs: 100 });
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
      DB_POOL_MAX: '20',
      // The real reconciler process: worker call timeout + the workers' 5 s grace.
      RECONCILE_INTERVAL_MS: '500',
      RECONCILE_STALE_ATTEMPT_MS: String(CALL_TIMEOUT_MS + 5000),
      RECONCILER_ID: 'kill-reconciler',
    },
  );
  startWorker('kill-w1');
  startWorker('kill-w2');
  processes.push(spawnApp('reconciler', { ...env, LOG_LEVEL: 'info' }));
}, 60_000);

afterAll(async () => {
  await Promise.all(processes.map((p) => p.kill()));
  await redis?.quit().catch(() => undefined);
  await simulator?.close();
  await db?.close();
  await testDb?.drop();
  await privateRedis?.stop();
});

/** The worker processes alive now, by WORKER_ID. */
const live = new Map<string, AppProcess>();

/**
 * SIGKILL, of the live workers, one that has calls in flight at that moment (attempt rows started, not finished),
 * whichever it is: BullMQ hands jobs to whichever worker asks first, so which one is busy is not fixed.
 */
async function killDuringCalls(rolloutId: string): Promise<{ workerId: string; inFlight: number }> {
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
  return busy;
}

function startWorker(workerId: string): void {
  const worker = spawnApp('worker', { ...env, WORKER_ID: workerId });
  live.set(workerId, worker);
  processes.push(worker);
}

describe('kill -9 of worker processes during calls', () => {
  it('completes the rollout; no instance final twice; attempt rows match the simulator calls; nothing installed twice', async () => {
    const ids = instanceIds(INSTANCES, 'i-kl');
    // force=false: a call repeated after an unknown outcome (its worker died) must not reinstall a running agent.
    const { rolloutId } = await createEnqueuedRollout(db, redis, prefix, logger, ids, {
      concurrency: CONCURRENCY,
      maxAttempts: 4,
      force: false,
    });
    const finished = () =>
      db.prisma.rolloutInstance.count({ where: { rolloutId, state: { in: ['succeeded', 'failed'] } } });

    await waitFor('15% done', async () => (await finished()) >= INSTANCES * 0.15, {
      timeoutMs: 40_000,
      intervalMs: 20,
    });
    const firstKill = await killDuringCalls(rolloutId);
    startWorker('kill-w3');

    await waitFor('45% done', async () => (await finished()) >= INSTANCES * 0.45, {
      timeoutMs: 40_000,
      intervalMs: 20,
    });
    const secondKill = await killDuringCalls(rolloutId);
    expect(await finished()).toBeLessThan(INSTANCES);

    await waitFor(
      'the rollout completed',
      async () => (await db.prisma.rollout.findUniqueOrThrow({ where: { id: rolloutId } })).status === 'completed',
      { timeoutMs: 50_000, intervalMs: 200 },
    );

    const instances = await db.prisma.rolloutInstance.findMany({
      where: { rolloutId },
      include: { attempts: { orderBy: { attemptNo: 'asc' } } },
    });
    expect(instances).toHaveLength(INSTANCES);
    const stats = simulator.sim.stats();
    let answerLost = 0;
    let replayed = 0;
    for (const instance of instances) {
      expect(['succeeded', 'failed']).toContain(instance.state);
      expect(instance.state === 'failed').toBe(isFailingInstance(SEED, instance.instanceId, FAILURE_RATE));
      // Final once: exactly one terminal answer, the last attempt, and it decided the state.
      const terminal = instance.attempts.filter((a) => a.outcome === 'success' || a.outcome === 'final');
      expect(terminal).toHaveLength(1);
      expect(instance.attempts.at(-1)!.id).toBe(terminal[0]!.id);
      expect(instance.state).toBe(terminal[0]!.outcome === 'success' ? 'succeeded' : 'failed');
      expect(instance.attempts.map((a) => a.attemptNo)).toEqual(instance.attempts.map((_, i) => i + 1));
      expect(instance.attempts).toHaveLength(instance.attemptCount);

      const calls = stats.callsByInstance[instance.instanceId] ?? 0;
      expect(instance.attempts.every((a) => a.finishedAt !== null)).toBe(true);
      // Every attempt row is one call the simulator counted, and every call it counted is one row.
      expect(calls).toBe(instance.attempts.length);
      // No attempt was given up without knowing whether its call arrived: each is an answer or a proven lost answer.
      expect(instance.attempts.filter((a) => a.outcome === 'abandoned' && a.outcomeKind !== 'answer_lost')).toEqual([]);
      // Every answer recorded came from a call the simulator saw (by RequestId).
      const seenRequestIds = new Set(simulator.sim.instance(instance.instanceId).requestIds);
      const answered = instance.attempts.filter((a) => a.outcome !== 'abandoned');
      for (const attempt of answered) {
        expect(
          attempt.requestId,
          `attempt ${attempt.attemptNo} of ${instance.instanceId}: ${attempt.outcomeKind} ${attempt.errorCode}`,
        ).not.toBeNull();
        expect(seenRequestIds.has(attempt.requestId!)).toBe(true);
      }
      answerLost += instance.attempts.length - answered.length;
      replayed += instance.attempts.filter((a) => a.replayedBy !== null && a.outcome !== 'abandoned').length;
      // Never a second install of the same instance.
      expect(stats.installsByInstance[instance.instanceId] ?? 0).toBeLessThanOrEqual(1);
    }
    // The kills did interrupt calls, and the takeovers went through the replay.
    expect(firstKill.inFlight + secondKill.inFlight).toBeGreaterThan(0);
    expect(answerLost + replayed).toBeGreaterThan(0);
    expect(stats.maxInFlightByUserId['1234567898765432']).toBeLessThanOrEqual(CONCURRENCY);
    process.stdout.write(
      `kill -9 acceptance: killed ${firstKill.workerId} with ${firstKill.inFlight} calls in flight, ` +
        `then ${secondKill.workerId} with ${secondKill.inFlight}; attempts replayed and answered ${replayed}; ` +
        `attempts whose call had arrived but whose answer died with the worker ${answerLost}; simulator calls = attempt rows for all ${INSTANCES} instances\n`,
    );
    for (const p of processes) expect(p.output()).not.toContain(ACCESS_KEY_SECRET);
  });
});
