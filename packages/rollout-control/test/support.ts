import type { Redis } from 'ioredis';
import { afterAll, beforeAll } from 'vitest';
import type { Database } from '@fleet/db';
import { createDatabase, insertRollout } from '@fleet/db';
import { createRedisConnection, enqueueInstallJobs, openInstallQueue } from '@fleet/queue';
import { DEFAULT_RETRY_POLICY, defaultPolicy } from '@fleet/rollout-domain';
import type { InstanceState, RolloutPolicy } from '@fleet/rollout-domain';
import { capturingLogger, createTestDatabase, deleteKeysWithPrefix, testRedisUrl, uniquePrefix } from '@fleet/testing';
import type { TestDatabase } from '@fleet/testing';
import type { RolloutControlDeps } from '../src/index.ts';

const USER_ID = '1234567898765432';

export type ControlServices = RolloutControlDeps & { lines: string[] };

/**
 * A test file's own database (a copy of the migrated template) and Redis key prefix, made before its tests and
 * removed after them, with a logger whose lines the tests can read.
 */
export function useControlServices(label: string, onOpen: (services: ControlServices) => void): void {
  let testDb: TestDatabase | undefined;
  let db: Database | undefined;
  let redis: Redis | undefined;
  const prefix = uniquePrefix(label);
  beforeAll(async () => {
    testDb = await createTestDatabase();
    db = createDatabase({ url: testDb.url, poolMax: 5 });
    const { logger, lines } = capturingLogger({ service: `${label}-test` });
    redis = createRedisConnection(testRedisUrl(), 'control', logger);
    onOpen({ db, redis, prefix, logger, lines, by: { actor: { kind: 'worker', id: `${label}-test` } } });
  });
  afterAll(async () => {
    await deleteKeysWithPrefix(prefix);
    await redis?.quit();
    await db?.close();
    await testDb?.drop();
  });
}

/**
 * A running rollout as the API makes it: its rows in Postgres and its first wave's jobs in its queue, with the
 * queue's concurrency set. `policy` overrides fields of the default policy.
 */
export async function startedRollout(
  services: ControlServices,
  ids: string[],
  options: { policy?: Partial<RolloutPolicy>; waveSizes?: number[]; concurrency?: number } = {},
) {
  const concurrency = options.concurrency ?? 5;
  const policy: RolloutPolicy = {
    ...defaultPolicy(),
    concurrency,
    retry: { ...DEFAULT_RETRY_POLICY, maxAttempts: 3 },
    ...options.policy,
  };
  const { rollout, instances } = await insertRollout(services.db, {
    userId: USER_ID,
    force: false,
    concurrency,
    maxAttempts: policy.retry.maxAttempts,
    policy: policy as never,
    instanceIds: ids,
    ...(options.waveSizes ? { waveSizes: options.waveSizes } : {}),
  });
  const queue = openInstallQueue(services.redis, rollout.id, services.prefix, services.logger);
  const firstWave = options.waveSizes ? instances.slice(0, options.waveSizes[0]) : instances;
  await enqueueInstallJobs(queue, { rolloutId: rollout.id, concurrency, instances: firstWave });
  return { rollout, instances, queue };
}

/** What the worker leaves behind when instances end: their state and finish time. */
export async function finishInstances(
  services: ControlServices,
  rolloutId: string,
  instanceIds: readonly string[],
  state: Extract<InstanceState, 'succeeded' | 'failed' | 'cancelled'>,
): Promise<void> {
  await services.db.prisma.rolloutInstance.updateMany({
    where: { rolloutId, instanceId: { in: [...instanceIds] } },
    data: { state, attemptCount: 1, finishedAt: new Date() },
  });
}

/** The ids of the jobs waiting in a queue, sorted. */
export async function waitingJobIds(queue: ReturnType<typeof openInstallQueue>): Promise<string[]> {
  return (await queue.getJobs(['waiting'], 0, -1)).map((job) => job.id!).sort();
}

/** Log lines (parsed) whose message is `message`. */
export function logged(lines: readonly string[], message: string): Record<string, unknown>[] {
  return lines.map((line) => JSON.parse(line) as Record<string, unknown>).filter((line) => line.message === message);
}
