import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countInstallJobs } from '@fleet/queue';
import { instanceIds, waitFor } from '@fleet/testing';
import { niceOfThreads } from '@fleet/thread-priority';
import { USER_ID, startApi } from './support.ts';
import type { ApiHarness } from './support.ts';

/** The API of main.ts builds new rollouts' jobs in a thread of its own (src/enqueue-thread), off its event loop. */
let api: ApiHarness;
let unreachable: ApiHarness;
/** Answers every POST as soon as the rollout is recorded (ENQUEUE_WAIT_MS=0): the enqueues go on behind the answers. */
let answeringAtOnce: ApiHarness;

beforeAll(async () => {
  api = await startApi({ enqueueThread: {} });
  // Its thread's Redis is a port nothing listens on; the API itself reaches Redis.
  // Its POST waits 1 s for the enqueue, as ENQUEUE_WAIT_MS does: this one never finishes.
  unreachable = await startApi({
    sharedWith: api,
    enqueueWaitMs: 1000,
    enqueueThread: { redisUrl: 'redis://127.0.0.1:1' },
  });
  answeringAtOnce = await startApi({ sharedWith: api, enqueueWaitMs: 0, enqueueThread: {} });
}, 60_000);

afterAll(async () => {
  await answeringAtOnce?.close();
  await api?.close();
});

const create = (harness: ApiHarness, count: number, prefix: string) =>
  harness.request('POST', '/v1/rollouts', {
    userId: USER_ID,
    instanceIds: instanceIds(count, prefix),
    concurrency: 10,
  });

describe('the enqueue thread', () => {
  it('runs at a lower CPU priority (nice 10) than the event loop that answers requests, which keeps its own', async () => {
    // Three harnesses started a thread each; the test's own thread (which is the API's event loop here) is untouched.
    const nice = niceOfThreads();
    expect(nice.get(process.pid)).toBe(0);
    await waitFor('the enqueue threads to lower their priority', () => {
      const lowered = [...niceOfThreads().values()].filter((n) => n === 10).length;
      return lowered >= 2;
    });
  });

  it("hands a new rollout's first wave to Redis from its own connections: every instance a job, the rollout enqueued", async () => {
    const res = await create(api, 3_000, 'i-thr');
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    expect(res.body).toMatchObject({ enqueued: true, counts: { total: 3_000 } });
    const jobs = await countInstallJobs(api.redis, api.prefix, [res.body.id]);
    expect(Object.values(jobs).reduce((sum, n) => sum + n, 0)).toBe(3_000);
    // The rows were read on the thread's own pool (its application_name), not the API's.
    const { rows } = await api.db.pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'fleet-api:enqueue'`,
    );
    expect(rows[0]!.n).toBeGreaterThan(0);
  });

  it('fails the enqueue when its Redis is unreachable: the rollout is recorded and left enqueued: false for the reconciler', async () => {
    const res = await create(unreachable, 50, 'i-thf');
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    expect(res.body).toMatchObject({ enqueued: false, counts: { total: 50, pending: 50 } });
    const stored = await api.db.prisma.rollout.findUniqueOrThrow({ where: { id: res.body.id } });
    expect(stored.enqueuedAt).toBeNull();
    // Stopping ends the thread that still waits for its Redis (terminated after the grace).
    await unreachable.close();
    expect(unreachable.logLines.join('\n')).toContain('the enqueue thread did not finish in time; terminating it');
    expect(unreachable.logLines.join('\n')).toContain('rollout recorded but not fully enqueued');
  });

  it("enqueues a small rollout posted while a large one is being handed over without waiting for the large one's end", async () => {
    const large = await create(answeringAtOnce, 20_000, 'i-thl');
    expect(large.status, JSON.stringify(large.body)).toBe(202);
    const small = await create(answeringAtOnce, 10, 'i-ths');
    expect(small.status, JSON.stringify(small.body)).toBe(202);
    const enqueuedAt = async (id: string) =>
      (await api.db.prisma.rollout.findUniqueOrThrow({ where: { id } })).enqueuedAt;
    await waitFor('the small rollout enqueued', async () => (await enqueuedAt(small.body.id)) !== null);
    // One enqueue at a time (as before), the small one's jobs could go in only once all 20,000 of the large one's had.
    expect(await enqueuedAt(large.body.id)).toBeNull();
    const smallJobs = await countInstallJobs(api.redis, api.prefix, [small.body.id]);
    expect(Object.values(smallJobs).reduce((sum, n) => sum + n, 0)).toBe(10);
    await waitFor('the large rollout enqueued', async () => (await enqueuedAt(large.body.id)) !== null, {
      timeoutMs: 60_000,
    });
    const largeJobs = await countInstallJobs(api.redis, api.prefix, [large.body.id]);
    expect(Object.values(largeJobs).reduce((sum, n) => sum + n, 0)).toBe(20_000);
  }, 90_000);
});
