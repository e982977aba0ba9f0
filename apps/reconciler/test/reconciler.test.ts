import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDatabase, insertRollout, listEvents } from '@fleet/db';
import type { Database } from '@fleet/db';
import { createLogger } from '@fleet/logger';
import { createRedisConnection, openInstallQueue, reconcilerLeaderKey } from '@fleet/queue';
import { createTestDatabase, deleteKeysWithPrefix, testRedisUrl, uniquePrefix } from '@fleet/testing';
import type { TestDatabase } from '@fleet/testing';
import type { Redis } from 'ioredis';
import { loadReconcilerConfig } from '../src/config.ts';
import { createLeaderLease } from '../src/leader-lease.ts';
import { createReconciler } from '../src/reconciler.ts';
import { startSimulator } from './support.ts';

const logger = createLogger({ service: 'reconciler-test', silent: true });
let testDb: TestDatabase;
let db: Database;
let redis: Redis;
let simulator: Awaited<ReturnType<typeof startSimulator>>;
const prefix = uniquePrefix('reconciler');

beforeAll(async () => {
  testDb = await createTestDatabase();
  db = createDatabase({ url: testDb.url, poolMax: 5 });
  redis = createRedisConnection(testRedisUrl(), 'control', logger);
  simulator = await startSimulator();
});
afterAll(async () => {
  await deleteKeysWithPrefix(prefix);
  await redis.quit();
  await simulator.close();
  await db.close();
  await testDb.drop();
});

function makeReconciler(holder: string) {
  return createReconciler({
    db,
    redis,
    prefix,
    logger,
    cms: simulator.cms,
    lease: createLeaderLease(redis, { key: reconcilerLeaderKey(prefix), holder, ttlMs: 5000 }),
    intervalMs: 50,
    enqueueGraceMs: 1000,
  });
}

describe('reconciler', () => {
  it('lets only one replica act at a time, and another take over once the first stops', async () => {
    const a = makeReconciler('a');
    const b = makeReconciler('b');
    expect((await a.runOnce()).leader).toBe(true);
    expect((await b.runOnce()).leader).toBe(false);
    expect((await a.runOnce()).leader).toBe(true);
    await a.stop();
    expect((await b.runOnce()).leader).toBe(true);
    await b.stop();
  });

  it('enqueues a rollout whose enqueue never happened, once the grace period has passed', async () => {
    const { rollout } = await insertRollout(db, {
      userId: '1234567898765432',
      force: false,
      concurrency: 3,
      maxAttempts: 2,
      policy: {},
      instanceIds: ['i-r1', 'i-r2', 'i-r3'],
    });
    const reconciler = makeReconciler('enq');
    expect((await reconciler.runOnce()).enqueuedRollouts).toBe(0);
    await db.prisma.rollout.update({ where: { id: rollout.id }, data: { createdAt: new Date(Date.now() - 60_000) } });
    expect((await reconciler.runOnce()).enqueuedRollouts).toBe(1);
    const queue = openInstallQueue(redis, rollout.id, prefix, logger);
    expect((await queue.getWaiting()).map((j) => j.id).sort()).toEqual(['i-r1', 'i-r2', 'i-r3']);
    expect(await queue.getGlobalConcurrency()).toBe(3);
    await queue.close();
    expect((await db.prisma.rollout.findUniqueOrThrow({ where: { id: rollout.id } })).enqueuedAt).not.toBeNull();
    expect((await reconciler.runOnce()).enqueuedRollouts).toBe(0);
    await reconciler.stop();
  });

  it('completes a running rollout whose instances are all final', async () => {
    const { rollout } = await insertRollout(db, {
      userId: '1234567898765432',
      force: false,
      concurrency: 3,
      maxAttempts: 2,
      policy: {},
      instanceIds: ['i-f1', 'i-f2'],
    });
    await db.prisma.rollout.update({ where: { id: rollout.id }, data: { enqueuedAt: new Date() } });
    const reconciler = makeReconciler('done');
    expect((await reconciler.runOnce()).completedRollouts).toBe(0);
    await db.prisma.rolloutInstance.updateMany({ where: { rolloutId: rollout.id }, data: { state: 'succeeded' } });
    expect((await reconciler.runOnce()).completedRollouts).toBe(1);
    expect((await db.prisma.rollout.findUniqueOrThrow({ where: { id: rollout.id } })).status).toBe('completed');
    expect((await reconciler.runOnce()).completedRollouts).toBe(0);
    const completed = (await listEvents(db, { rolloutId: rollout.id, type: 'rollout.completed', limit: 10 })).events;
    expect(completed).toHaveLength(1);
    expect(completed[0]).toMatchObject({ actor: { kind: 'reconciler' }, data: { counts: { succeeded: 2 } } });
    await reconciler.stop();
  });

  it("deletes per-second finish counts older than ten minutes and keeps the last minute's", async () => {
    const { rollout, instances } = await insertRollout(db, {
      userId: '1234567898765432',
      force: false,
      concurrency: 3,
      maxAttempts: 2,
      policy: {},
      instanceIds: ['i-fs1', 'i-fs2', 'i-fs3'],
    });
    const recent = new Date(Date.now() - 5_000);
    await db.prisma.rolloutInstance.update({
      where: { id: instances[0]!.id },
      data: { state: 'succeeded', finishedAt: new Date(Date.now() - 11 * 60_000) },
    });
    await db.prisma.rolloutInstance.update({
      where: { id: instances[1]!.id },
      data: { state: 'failed', finishedAt: new Date(Date.now() - 30 * 60_000) },
    });
    await db.prisma.rolloutInstance.update({
      where: { id: instances[2]!.id },
      data: { state: 'succeeded', finishedAt: recent },
    });
    expect(await db.prisma.rolloutFinishSecond.count({ where: { rolloutId: rollout.id } })).toBe(3);
    const reconciler = makeReconciler('prune');
    expect((await reconciler.runOnce()).prunedFinishSeconds).toBeGreaterThanOrEqual(2);
    const left = await db.prisma.rolloutFinishSecond.findMany({ where: { rolloutId: rollout.id } });
    expect(left.map((b) => [b.second.getTime(), b.count])).toEqual([[Math.floor(recent.getTime() / 1000) * 1000, 1]]);
    expect((await reconciler.runOnce()).prunedFinishSeconds).toBe(0);
    await reconciler.stop();
  });

  it('deletes Idempotency-Key records older than their retention and keeps younger ones', async () => {
    const apiKeyId = crypto.randomUUID();
    const record = (key: string, ageMs: number) => ({
      apiKeyId,
      key,
      requestHash: 'h',
      resourceId: crypto.randomUUID(),
      status: 202,
      createdAt: new Date(Date.now() - ageMs),
    });
    await db.prisma.idempotencyRecord.createMany({
      data: [record('old-1', 25 * 3_600_000), record('old-2', 48 * 3_600_000), record('young', 3_600_000)],
    });
    const reconciler = makeReconciler('idem');
    expect((await reconciler.runOnce()).prunedIdempotencyRecords).toBe(2);
    expect((await db.prisma.idempotencyRecord.findMany({ where: { apiKeyId } })).map((r) => r.key)).toEqual(['young']);
    expect((await reconciler.runOnce()).prunedIdempotencyRecords).toBe(0);
    await reconciler.stop();
  });

  it('stops cleanly while its loop runs, and stop() is idempotent', async () => {
    const reconciler = makeReconciler('loop');
    reconciler.start();
    await new Promise((r) => setTimeout(r, 200));
    await reconciler.stop();
    await reconciler.stop();
    expect(await redis.get(reconcilerLeaderKey(prefix))).toBeNull();
  });
});

describe('reconciler config', () => {
  it('has defaults that run locally and names a bad variable', () => {
    const config = loadReconcilerConfig({});
    expect(config).toMatchObject({
      RECONCILE_INTERVAL_MS: 10_000,
      QUEUE_PREFIX: 'fleet',
      REDIS_URL: 'redis://127.0.0.1:6379',
    });
    expect(Object.isFrozen(config)).toBe(true);
    expect(() => loadReconcilerConfig({ RECONCILE_INTERVAL_MS: 'soon' })).toThrow(/RECONCILE_INTERVAL_MS/);
  });

  it("reads the verification, staleness and CMS settings with the worker's CMS defaults", () => {
    const config = loadReconcilerConfig({});
    expect(config).toMatchObject({
      VERIFY_WINDOW_MS: 600_000,
      VERIFY_BATCH_SIZE: 5000,
      // The workers' defaults: the verification calls keep to the account's schedule with their install calls.
      ACCOUNT_RATE_LIMIT_RPS: 50,
      ACCOUNT_RATE_BURST: 1,
      RECONCILE_STALE_ATTEMPT_MS: 15_000,
      RECONCILE_LOOKBACK_MS: 86_400_000,
      CMS_ENDPOINT: 'http://127.0.0.1:8787/',
      CMS_TIMEOUT_MS: 10_000,
      CMS_METHOD: 'POST',
      CMS_SIGNATURE_VERSION: 'v1',
    });
    expect(config.CMS_ACCESS_KEY_SECRET.length).toBeGreaterThan(0);
    expect(loadReconcilerConfig({ VERIFY_WINDOW_MS: '3000', CMS_ENDPOINT: 'http://sim:1/' })).toMatchObject({
      VERIFY_WINDOW_MS: 3000,
      CMS_ENDPOINT: 'http://sim:1/',
    });
    expect(() => loadReconcilerConfig({ VERIFY_WINDOW_MS: '0' })).toThrow(/VERIFY_WINDOW_MS/);
    expect(() => loadReconcilerConfig({ CMS_ENDPOINT: 'not a url' })).toThrow(/CMS_ENDPOINT/);
  });
});
