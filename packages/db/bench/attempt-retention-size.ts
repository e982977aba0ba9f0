/**
 * What a finished rollout costs to keep in Postgres, per instance, before and after attempt retention: run by hand
 * (`npx tsx packages/db/bench/attempt-retention-size.ts [instances]`, default 20,000) on a database of its own.
 * Instances get the columns a real rollout fills (a RequestId, an attempt with its signing nonce), one attempt each
 * plus a retried attempt for one in ten. Sizes are table + indexes + TOAST after VACUUM FULL, so freed space is not
 * counted as kept.
 */
import { randomUUID } from 'node:crypto';
import { createTestDatabase, instanceIds } from '@fleet/testing';
import { createDatabase, insertRollout, summariseOldAttempts } from '../src/index.ts';

const count = Number(process.argv[2] ?? 20_000);
const testDb = await createTestDatabase();
const db = createDatabase({ url: testDb.url, poolMax: 2 });
try {
  const { rollout, instances } = await insertRollout(db, {
    userId: '1234567898765432',
    force: false,
    concurrency: 50,
    maxAttempts: 3,
    policy: { concurrency: 50 },
    instanceIds: instanceIds(count, 'i-size'),
  });
  const finishedAt = new Date(Date.now() - 100 * 86_400_000);
  const attempt = (id: bigint, attemptNo: number, success: boolean) => ({
    rolloutInstanceId: id,
    rolloutId: rollout.id,
    attemptNo,
    startedAt: finishedAt,
    finishedAt,
    durationMs: 120,
    httpStatus: success ? 200 : 503,
    success,
    errorCode: success ? null : 'ServiceUnavailable',
    errorMessage: success ? null : 'The request has failed due to a temporary failure of the server.',
    requestId: randomUUID().toUpperCase(),
    outcome: success ? ('success' as const) : ('retryable' as const),
    outcomeKind: success ? 'success' : 'retryable',
    workerId: 'worker-host-1-4242',
    signatureNonce: randomUUID(),
    signedAt: finishedAt,
  });
  for (let i = 0; i < instances.length; i += 5000) {
    const slice = instances.slice(i, i + 5000);
    await db.prisma.installAttempt.createMany({
      data: slice.flatMap((instance, j) =>
        (i + j) % 10 === 0
          ? [attempt(instance.id, 1, false), attempt(instance.id, 2, true)]
          : [attempt(instance.id, 1, true)],
      ),
    });
  }
  await db.prisma.$executeRaw`UPDATE rollout_instance SET state = 'succeeded', finished_at = ${finishedAt},
    attempt_count = 1, last_request_id = md5(id::text) WHERE rollout_id = ${rollout.id}::uuid`;
  await db.prisma.rollout.update({ where: { id: rollout.id }, data: { status: 'completed', finishedAt } });

  const sizes = async () => {
    await db.prisma.$executeRawUnsafe('VACUUM FULL install_attempt');
    await db.prisma.$executeRawUnsafe('VACUUM FULL rollout_instance');
    const [row] = await db.prisma.$queryRaw<{ attempts: bigint; instances: bigint }[]>`
      SELECT pg_total_relation_size('install_attempt') AS attempts, pg_total_relation_size('rollout_instance') AS instances`;
    return { attempts: Number(row!.attempts), instances: Number(row!.instances) };
  };
  const before = await sizes();
  const result = await summariseOldAttempts(db, { finishedBefore: new Date(Date.now() - 90 * 86_400_000) });
  const after = await sizes();
  const perInstance = (bytes: number) => (bytes / count).toFixed(0);
  process.stdout.write(
    `${count.toLocaleString('en-US')} instances, ${result.attemptsDeleted.toLocaleString('en-US')} attempts deleted\n` +
      `before: attempts ${perInstance(before.attempts)} B/instance, instances ${perInstance(before.instances)} B/instance, ` +
      `total ${perInstance(before.attempts + before.instances)} B/instance\n` +
      `after:  attempts ${perInstance(after.attempts)} B/instance, instances ${perInstance(after.instances)} B/instance, ` +
      `total ${perInstance(after.attempts + after.instances)} B/instance ` +
      `(ratio ${((after.attempts + after.instances) / (before.attempts + before.instances)).toFixed(2)})\n`,
  );
} finally {
  await db.close();
  await testDb.drop();
}
