import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createSecretBox, parseEncryptionKey } from '@fleet/secrets';
import { useTestDatabase } from './support.ts';
import {
  AccountHasOpenRolloutsError,
  accountSecretContext,
  accountTokenContext,
  claimAttempt,
  createAccount,
  createAttemptWriter,
  deleteAccount,
  findAccount,
  findAccountCalling,
  findAccountCredentials,
  insertRollout,
  recordRollout,
  resealColumns,
  rotateAccountCredentials,
  RETIRED_CREDENTIALS_KEPT_MS,
} from '../src/index.ts';
import type { Database } from '../src/index.ts';

let db: Database;
useTestDatabase({ poolMax: 5 }, (opened) => (db = opened));

const key = () => parseEncryptionKey(randomBytes(32).toString('base64'));
const OLD_KEY = key();
const NEW_KEY = key();
const oldBox = createSecretBox({ current: OLD_KEY });
const rotatingBox = createSecretBox({ current: NEW_KEY, previous: [OLD_KEY] });

const sealedFor = (userId: string, secret: string, token?: string) => ({
  accessKeyId: `LTAI${userId.slice(0, 8)}`,
  accessKeySecret: oldBox.seal(secret, accountSecretContext(userId)),
  securityToken: token === undefined ? null : oldBox.seal(token, accountTokenContext(userId)),
});

async function account(userId: string, secret: string, token?: string) {
  return createAccount(db, {
    userId,
    name: `account ${userId}`,
    endpoint: null,
    rateLimitRps: null,
    rateBurst: null,
    credentials: sealedFor(userId, secret, token),
    createdByKeyId: null,
  });
}

describe('account credentials', () => {
  it('keeps a retired version for replays, deletes it once a later rotation finds it retired long enough', async () => {
    const userId = '5000000000000001';
    await account(userId, 'first-secret');
    const first = (await findAccountCalling(db, userId))!.credentials!;
    const t0 = new Date('2026-12-01T00:00:00Z');
    await rotateAccountCredentials(db, userId, sealedFor(userId, 'second-secret'), undefined, t0);
    expect(await findAccountCredentials(db, first.id)).not.toBeNull();
    await rotateAccountCredentials(
      db,
      userId,
      sealedFor(userId, 'third-secret'),
      undefined,
      new Date(t0.getTime() + RETIRED_CREDENTIALS_KEPT_MS + 1000),
    );
    expect(await findAccountCredentials(db, first.id)).toBeNull();
    const current = (await findAccountCalling(db, userId))!.credentials!;
    expect(oldBox.open(current.accessKeySecret, accountSecretContext(userId))).toBe('third-secret');
  });

  it('stores on each attempt which credentials sign it, on both claim paths, and a replay answers the same ones', async () => {
    const userId = '5000000000000002';
    await account(userId, 'claim-secret');
    const credentialsId = (await findAccountCalling(db, userId))!.credentials!.id;
    const { rollout, instances } = await insertRollout(db, {
      userId,
      force: false,
      concurrency: 5,
      maxAttempts: 3,
      policy: {},
      instanceIds: ['i-cred1', 'i-cred2'],
    });
    const writer = createAttemptWriter(db);
    const t0 = new Date('2026-01-01T00:00:00Z');
    const batched = await writer.claim({
      rolloutInstanceId: instances[0]!.id,
      rolloutId: rollout.id,
      workerId: 'w1',
      signatureNonce: 'n-batched',
      credentialsId,
      staleAfterMs: 1000,
      now: t0,
    });
    expect(batched.kind).toBe('claimed');
    // The second instance's first claim goes the general (locked) path once its attempt is stale.
    await claimAttempt(db, {
      rolloutInstanceId: instances[1]!.id,
      rolloutId: rollout.id,
      workerId: 'dead',
      signatureNonce: 'n-dead',
      credentialsId,
      staleAfterMs: 1000,
      now: t0,
    });
    const replay = await claimAttempt(db, {
      rolloutInstanceId: instances[1]!.id,
      rolloutId: rollout.id,
      workerId: 'w2',
      signatureNonce: 'n-other',
      credentialsId: null,
      staleAfterMs: 1000,
      now: new Date(t0.getTime() + 1500),
    });
    expect(replay).toMatchObject({ kind: 'replay', credentialsId });
    const rows = await db.prisma.installAttempt.findMany({ where: { rolloutId: rollout.id } });
    expect(rows.map((r) => r.credentialsId)).toEqual([credentialsId, credentialsId]);
  });
});

describe('resealColumns (rotate-encryption-key)', () => {
  it('re-seals every value not under the current key, leaves current ones alone, and is safe to run again', async () => {
    const userId = '5000000000000003';
    await account(userId, 'reseal-secret', 'reseal-token');
    const results = await resealColumns(db, rotatingBox, { batchSize: 2 });
    const byColumn = Object.fromEntries(results.map((r) => [r.column, r]));
    expect(byColumn.access_key_secret!.resealed).toBeGreaterThanOrEqual(1);
    expect(byColumn.security_token!.resealed).toBe(1);
    const rows = await db.prisma.accountCredentials.findMany();
    for (const row of rows) {
      expect(rotatingBox.isCurrent(row.accessKeySecret)).toBe(true);
      if (row.securityToken !== null) expect(rotatingBox.isCurrent(row.securityToken)).toBe(true);
    }
    const current = (await findAccountCalling(db, userId))!.credentials!;
    expect(rotatingBox.open(current.accessKeySecret, accountSecretContext(userId))).toBe('reseal-secret');
    expect(rotatingBox.open(current.securityToken!, accountTokenContext(userId))).toBe('reseal-token');
    // Run again: nothing left to do.
    const again = await resealColumns(db, rotatingBox);
    expect(again.every((r) => r.resealed === 0 && r.raced === 0)).toBe(true);
  });
});

describe('deleteAccount', () => {
  it.each([
    ['running', '6000000000000001'],
    ['paused', '6000000000000002'],
    ['scheduled', '6000000000000003'],
    ['waiting_for_window', '6000000000000004'],
  ] as const)(
    'is refused while a rollout of the account is %s (it has calls still to make), and the account stays',
    async (status, userId) => {
      await account(userId, 'delete-secret');
      const { rollout } = await insertRollout(db, {
        userId,
        force: false,
        concurrency: 1,
        maxAttempts: 1,
        policy: {},
        instanceIds: ['i-delete1'],
      });
      await db.prisma.rollout.update({ where: { id: rollout.id }, data: { status } });
      await expect(deleteAccount(db, userId)).rejects.toBeInstanceOf(AccountHasOpenRolloutsError);
      expect(await findAccount(db, userId)).not.toBeNull();
      await db.prisma.rollout.update({ where: { id: rollout.id }, data: { status: 'completed' } });
      expect(await deleteAccount(db, userId)).toBe(true);
    },
  );

  it('waits for a rollout being made for the account at the same moment, then refuses: no rollout is left without its account', async () => {
    const userId = '6000000000000009';
    await account(userId, 'race-secret');
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let entered!: () => void;
    const inside = new Promise<void>((resolve) => (entered = resolve));
    // The rollout's transaction, held open after its first statements (as a large insert is, for a second or two).
    const creating = recordRollout(
      db,
      { userId, force: false, concurrency: 1, maxAttempts: 1, policy: {}, instanceIds: ['i-race1'] },
      {
        inTransaction: async () => {
          entered();
          await held;
        },
      },
    );
    await inside;
    const deleting = deleteAccount(db, userId).then(
      (deleted) => ({ deleted }),
      (error: unknown) => ({ error }),
    );
    // The delete's transaction runs beside it: it must wait on the account's row, not finish first.
    const waitsOnLock = async () => {
      for (let i = 0; i < 100; i++) {
        const { rows } = await db.pool.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM pg_stat_activity
           WHERE datname = current_database() AND wait_event_type = 'Lock' AND state = 'active'`,
        );
        if (rows[0]!.n > 0) return 'waiting' as const;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      return 'not waiting' as const;
    };
    const first = await Promise.race([deleting.then(() => 'finished' as const), waitsOnLock()]);
    release();
    const rollout = await creating;
    expect(first).toBe('waiting');
    const outcome = await deleting;
    expect(outcome).toEqual({ error: expect.any(AccountHasOpenRolloutsError) });
    expect(await findAccount(db, userId)).not.toBeNull();
    await db.prisma.rollout.update({ where: { id: rollout.id }, data: { status: 'completed' } });
  });
});
