import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { claimAttempt, finishAttempt } from '@fleet/db';
import { publishLimitsConfig } from '@fleet/limits';
import { instanceIds } from '@fleet/testing';
import { rolloutPlanSchema } from '../src/rollout-plan-schema.ts';
import type { ApiHarness } from './support.ts';
import { startApi, USER_ID } from './support.ts';

let api: ApiHarness;
beforeAll(async () => {
  // The per-key rate limit off: its counter is the one thing any request writes to Redis, a dry run's included.
  api = await startApi({ rateLimit: { limit: 0 } });
  await publishLimitsConfig(api.redis, api.prefix, { globalConcurrency: 500, accountRateLimitRps: 10 });
});
afterAll(async () => {
  await api.close();
});

/** Rows of every table of the database. */
async function tableRowCounts(): Promise<Record<string, number>> {
  const { rows: tables } = await api.db.pool.query<{ name: string }>(
    `SELECT table_name AS name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'`,
  );
  const counts: Record<string, number> = {};
  for (const { name } of tables) {
    const { rows } = await api.db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM "${name}"`);
    counts[name] = rows[0]!.n;
  }
  return counts;
}

/** Every key of this API's prefix with its value as Redis serialises it (DUMP), and how many keys Redis holds. */
async function redisContents(): Promise<Record<string, string>> {
  const keys = await api.redis.keys(`${api.prefix}*`);
  const contents: Record<string, string> = {};
  for (const key of keys.sort()) contents[key] = (await api.redis.dumpBuffer(key))?.toString('base64') ?? '';
  return contents;
}

describe('POST /v1/rollouts with dryRun: true', () => {
  it('plans 100,000 ids with 1,000 bad ones: lists every bad one with its index, and writes nothing anywhere', async () => {
    const ids: unknown[] = instanceIds(100_000, 'i-dry');
    const badIndexes = Array.from({ length: 1000 }, (_, n) => n * 97 + 5);
    for (const index of badIndexes) ids[index] = index % 2 === 0 ? `I-Bad${index}` : index;
    const rowsBefore = await tableRowCounts();
    const redisBefore = await redisContents();

    const res = await api.request(
      'POST',
      '/v1/rollouts',
      { userId: USER_ID, instanceIds: ids, dryRun: true, concurrency: 100, waves: { sizes: [1000] } },
      { 'idempotency-key': 'dry-run-key-1' },
    );

    expect(res.status).toBe(200);
    expect(rolloutPlanSchema.safeParse(res.body).success).toBe(true);
    expect(res.body.valid).toBe(false);
    expect(res.body.instances).toEqual({ requested: 100_000, accepted: 99_000, duplicatesRemoved: 0, refused: 1000 });
    expect(res.body.refused.map((r: { index: number }) => r.index)).toEqual(badIndexes);
    expect(res.body.refused[0]).toEqual({ index: 5, value: '5', reason: 'must be a string' });
    expect(res.body.refused[1]).toEqual({
      index: 102,
      value: '"I-Bad102"',
      reason: 'must be an ECS instance id: "i-" followed by lowercase letters and digits',
    });
    expect(res.body.waves).toHaveLength(99);
    expect(res.body.waves[98]).toEqual({ wave: 99, size: 1000 });
    expect(await tableRowCounts()).toEqual(rowsBefore);
    expect(await redisContents()).toEqual(redisBefore);

    // The Idempotency-Key was neither stored nor consumed: the real request with it makes the rollout.
    const created = await api.request(
      'POST',
      '/v1/rollouts',
      { userId: USER_ID, instanceIds: ['i-dry00001'] },
      { 'idempotency-key': 'dry-run-key-1' },
    );
    expect(created.status).toBe(202);
    expect(created.headers.get('idempotent-replayed')).toBeNull();
  });

  it('estimates from the published limits and, without recent calls, the default call latency', async () => {
    const res = await api.request('POST', '/v1/rollouts', {
      userId: '1111222233334444',
      instanceIds: [...instanceIds(100, 'i-est'), 'i-est00000'],
      dryRun: true,
      concurrency: '5%',
    });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      valid: true,
      instances: { requested: 101, accepted: 100, duplicatesRemoved: 1, refused: 0 },
      refused: [],
      waves: [{ wave: 1, size: 100 }],
      limits: {
        concurrencySpec: '5%',
        concurrency: 5,
        globalConcurrency: 500,
        accountRateLimitRps: 10,
        accountRateNowRps: 10,
      },
      estimate: {
        // 5 calls of 1000 ms at once: 5 a second, below the account's 10; 100 / 5 = 20 s.
        seconds: 20,
        callLatencyMs: 1000,
        latencySource: 'default',
        latencySamples: 0,
        accountRatePerSecond: 10,
        rateSource: 'account_rate_now',
        waves: [{ wave: 1, size: 100, inFlight: 5, ratePerSecond: 5, boundBy: 'concurrency', seconds: 20 }],
      },
    });
    expect(res.body.estimate.formula).toContain('callLatencyMs');
  });

  it("takes the median of the account's recent calls as the call latency", async () => {
    const userId = '5555666677778888';
    const created = await api.request('POST', '/v1/rollouts', {
      userId,
      instanceIds: ['i-lat1', 'i-lat2', 'i-lat3'],
    });
    expect(created.status).toBe(202);
    const instances = await api.db.prisma.rolloutInstance.findMany({ where: { rolloutId: created.body.id } });
    for (const [n, instance] of instances.entries()) {
      const claim = await claimAttempt(api.db, {
        rolloutInstanceId: instance.id,
        rolloutId: created.body.id,
        workerId: 'w1',
        staleAfterMs: 10_000,
      });
      if (claim.kind !== 'claimed') throw new Error('expected a claim');
      await finishAttempt(api.db, {
        rolloutInstanceId: instance.id,
        attemptId: claim.attemptId,
        attemptNo: claim.attemptNo,
        maxAttempts: 3,
        nextAttemptAt: null,
        answer: {
          finishedAt: new Date(),
          durationMs: [100, 400, 250][n]!,
          httpStatus: 200,
          success: true,
          errorCode: null,
          errorMessage: null,
          requestId: `REQ-${n}`,
          outcome: 'success',
          outcomeKind: 'success',
        },
      });
    }
    const res = await api.request('POST', '/v1/rollouts', {
      userId,
      instanceIds: instanceIds(50, 'i-lat'),
      dryRun: true,
      concurrency: 10,
    });
    expect(res.status).toBe(200);
    expect(res.body.estimate).toMatchObject({ callLatencyMs: 250, latencySource: 'recent_median', latencySamples: 3 });
    // 10 calls of 250 ms at once would make 40 a second; the account allows 10: 50 / 10 = 5 s.
    expect(res.body.estimate.waves[0]).toMatchObject({ ratePerSecond: 10, boundBy: 'account_rate' });
    expect(res.body.estimate.seconds).toBe(5);
  });

  it('refuses a bad field other than an id as a create would (400 naming it), and records nothing', async () => {
    const rowsBefore = await tableRowCounts();
    const res = await api.request('POST', '/v1/rollouts', {
      userId: USER_ID,
      instanceIds: ['i-ok1'],
      dryRun: true,
      concurrency: 0,
    });
    expect(res.status).toBe(400);
    expect(res.body.errors).toEqual([
      expect.objectContaining({ field: 'concurrency', message: expect.stringContaining('got 0') }),
    ]);
    expect(await tableRowCounts()).toEqual(rowsBefore);
  });

  it('refuses skipInstalled with force as contradictory, in a dry run and in a create (400 naming skipInstalled)', async () => {
    const rowsBefore = await tableRowCounts();
    for (const dryRun of [true, false]) {
      const res = await api.request('POST', '/v1/rollouts', {
        userId: USER_ID,
        instanceIds: ['i-ok1'],
        dryRun,
        force: true,
        skipInstalled: true,
      });
      expect(res.status).toBe(400);
      expect(res.body.errors).toEqual([
        expect.objectContaining({ field: 'skipInstalled', message: expect.stringContaining('force') }),
      ]);
    }
    expect(await tableRowCounts()).toEqual(rowsBefore);
  });

  it('answers an account outside the key with 404, like a create', async () => {
    const { key } = await api.createKey('operator', ['9999888877776666']);
    const res = await api.requestAs(key, 'POST', '/v1/rollouts', {
      userId: USER_ID,
      instanceIds: ['i-ok1'],
      dryRun: true,
    });
    expect(res.status).toBe(404);
  });
});
