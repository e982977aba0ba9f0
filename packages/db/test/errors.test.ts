/**
 * The errors the db package throws carry a `code` (and a class) that callers branch on; errors of the driver are
 * classified by isDatabaseUnavailableError. Guarded writes are made to lose by a trigger that skips the row's update,
 * as a concurrent writer that always got there first would.
 */
import { describe, expect, it } from 'vitest';
import { errorCode } from '@fleet/errors';
import {
  claimAttempt,
  createDatabase,
  DatabaseError,
  GuardedWriteRaceError,
  insertRollout,
  isDatabaseUnavailableError,
  listManualInstallFlags,
  raiseMissingManualInstallFlags,
  transitionManualInstallFlag,
  transitionRollout,
  WaveSizesMismatchError,
  DIRECT_WRITER,
} from '../src/index.ts';
import type { Database } from '../src/index.ts';
import { useTestDatabase } from './support.ts';

let db: Database;
useTestDatabase({ poolMax: 4 }, (opened) => (db = opened));

async function newRollout(instanceId: string) {
  return insertRollout(db, {
    userId: '1234567898765432',
    force: false,
    concurrency: 1,
    maxAttempts: 1,
    policy: {},
    instanceIds: [instanceId],
  });
}

/** Until the returned function runs, every UPDATE of `table`'s row `id` is skipped (the row stays as it was). */
async function skipUpdatesOf(
  table: 'rollout' | 'rollout_instance' | 'manual_install_flag',
  id: string,
): Promise<() => Promise<void>> {
  const name = `skip_${table}_${id.replace(/\W/g, '')}`;
  await db.prisma.$executeRawUnsafe(`CREATE FUNCTION ${name}() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN IF OLD.id::text = '${id}' THEN RETURN NULL; END IF; RETURN NEW; END $$`);
  await db.prisma.$executeRawUnsafe(
    `CREATE TRIGGER ${name} BEFORE UPDATE ON ${table} FOR EACH ROW EXECUTE FUNCTION ${name}()`,
  );
  return async () => {
    await db.prisma.$executeRawUnsafe(`DROP TRIGGER ${name} ON ${table}`);
    await db.prisma.$executeRawUnsafe(`DROP FUNCTION ${name}()`);
  };
}

describe('db errors', () => {
  it('a rollout transition whose guarded write never lands gives up with GuardedWriteRaceError', async () => {
    const { rollout } = await newRollout('i-race-rollout');
    const restore = await skipUpdatesOf('rollout', rollout.id);
    try {
      const failure = await transitionRollout(
        db,
        rollout.id,
        { type: 'pause', reason: 'operator' },
        { by: DIRECT_WRITER },
      ).catch((e) => e);
      expect(failure).toBeInstanceOf(GuardedWriteRaceError);
      expect(failure).toBeInstanceOf(DatabaseError);
      expect(failure).toMatchObject({ code: 'guarded_write_lost_race', table: 'rollout', id: rollout.id });
      expect(errorCode(failure)).toBe('guarded_write_lost_race');
      expect(isDatabaseUnavailableError(failure)).toBe(false);
    } finally {
      await restore();
    }
    expect((await db.prisma.rollout.findUniqueOrThrow({ where: { id: rollout.id } })).status).toBe('running');
  });

  it('a claim whose guarded write does not land under the row lock throws GuardedWriteRaceError, writing nothing', async () => {
    const { rollout, instances } = await newRollout('i-race-claim');
    const rolloutInstanceId = instances[0]!.id;
    const restore = await skipUpdatesOf('rollout_instance', String(rolloutInstanceId));
    try {
      const failure = await claimAttempt(db, {
        rolloutInstanceId,
        rolloutId: rollout.id,
        workerId: 'w1',
        staleAfterMs: 60_000,
      }).catch((e) => e);
      expect(failure).toBeInstanceOf(GuardedWriteRaceError);
      expect(failure).toMatchObject({
        code: 'guarded_write_lost_race',
        table: 'rollout_instance',
        id: String(rolloutInstanceId),
      });
    } finally {
      await restore();
    }
    expect(await db.prisma.installAttempt.count({ where: { rolloutInstanceId } })).toBe(0);
  });

  it('a manual-install flag transition whose guarded write never lands gives up with GuardedWriteRaceError', async () => {
    const { rollout } = await newRollout('i-race-flag');
    await db.prisma.rolloutInstance.updateMany({
      where: { rolloutId: rollout.id },
      data: { state: 'failed', finishedAt: new Date(), needsManualInstall: true, manualInstallReason: 'rejected' },
    });
    await raiseMissingManualInstallFlags(db, rollout.id);
    const [flag] = (await listManualInstallFlags(db, { userIds: null, rolloutId: rollout.id, limit: 10 })).flags;
    const restore = await skipUpdatesOf('manual_install_flag', String(flag!.id));
    try {
      const failure = await transitionManualInstallFlag(db, {
        flagId: flag!.id,
        event: { type: 'acknowledge' },
        actor: 'alice',
      }).catch((e) => e);
      expect(failure).toBeInstanceOf(GuardedWriteRaceError);
      expect(failure).toMatchObject({
        code: 'guarded_write_lost_race',
        table: 'manual_install_flag',
        id: String(flag!.id),
      });
    } finally {
      await restore();
    }
    expect(await db.prisma.manualInstallFlagEvent.count({ where: { flagId: flag!.id, action: 'acknowledged' } })).toBe(
      0,
    );
  });

  it('wave sizes that do not add up throw WaveSizesMismatchError with both counts', async () => {
    const failure = await insertRollout(db, {
      userId: '1234567898765432',
      force: false,
      concurrency: 1,
      maxAttempts: 1,
      policy: {},
      instanceIds: ['i-w1', 'i-w2', 'i-w3'],
      waveSizes: [1, 1],
    }).catch((e) => e);
    expect(failure).toBeInstanceOf(WaveSizesMismatchError);
    expect(failure).toMatchObject({ code: 'wave_sizes_mismatch', instanceCount: 3, waveSizesTotal: 2 });
  });

  it('isDatabaseUnavailableError: a refused connection is unavailable; a bad statement and our own errors are not', async () => {
    // Port 1 on the loopback: nothing listens, the connection is refused at once.
    const nowhere = createDatabase({ url: 'postgresql://postgres@127.0.0.1:1/fleet', connectionTimeoutMs: 2000 });
    try {
      const refused = await nowhere.prisma.$queryRaw`SELECT 1`.catch((e) => e);
      expect(isDatabaseUnavailableError(refused)).toBe(true);
      const refusedByPg = await nowhere.pool.query('SELECT 1').catch((e) => e);
      expect(isDatabaseUnavailableError(refusedByPg)).toBe(true);
    } finally {
      await nowhere.close();
    }
    const badStatement = await db.prisma.$queryRawUnsafe('SELECT * FROM no_such_table').catch((e) => e);
    expect(badStatement).toBeInstanceOf(Error);
    expect(isDatabaseUnavailableError(badStatement)).toBe(false);
    expect(isDatabaseUnavailableError(new WaveSizesMismatchError(3, 2))).toBe(false);
  });
});
