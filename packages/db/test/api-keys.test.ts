import { describe, expect, it } from 'vitest';
import {
  IdempotencyKeyTakenError,
  claimIdempotencyKey,
  createApiKey,
  deleteIdempotencyRecordsBefore,
  findActiveApiKeyByHash,
  findIdempotencyRecord,
  hashApiKey,
  insertRollout,
  listApiKeys,
  listRollouts,
  revokeApiKey,
  touchApiKeyLastUsed,
} from '../src/index.ts';
import type { Database } from '../src/index.ts';
import { useTestDatabase } from './support.ts';

let db: Database;
useTestDatabase({ poolMax: 10 }, (opened) => (db = opened));

const A = '1111111111111111';
const B = '2222222222222222';

describe('api keys', () => {
  it('stores only the hash, finds an active key by it, and not once revoked', async () => {
    const { record, key } = await createApiKey(db, {
      name: 'k',
      role: 'operator',
      userIds: [A],
      allAccounts: false,
      createdById: null,
    });
    const row = await db.prisma.apiKey.findUniqueOrThrow({ where: { id: record.id } });
    expect(row.keyHash).toMatch(/^[0-9a-f]{64}$/);
    expect(JSON.stringify(row)).not.toContain(key);
    expect((await findActiveApiKeyByHash(db, hashApiKey(key)))?.id).toBe(record.id);
    expect(await revokeApiKey(db, record.id)).toBe(true);
    expect(await revokeApiKey(db, record.id)).toBe(false);
    expect(await findActiveApiKeyByHash(db, hashApiKey(key))).toBeNull();
  });

  it('lists for a scoped admin only keys bound to a subset of its accounts', async () => {
    const onlyA = await createApiKey(db, {
      name: 'a',
      role: 'viewer',
      userIds: [A],
      allAccounts: false,
      createdById: null,
    });
    const both = await createApiKey(db, {
      name: 'ab',
      role: 'viewer',
      userIds: [A, B],
      allAccounts: false,
      createdById: null,
    });
    const all = await createApiKey(db, {
      name: 'all',
      role: 'admin',
      userIds: [],
      allAccounts: true,
      createdById: null,
    });
    const ids = (await listApiKeys(db, { withinUserIds: [A], limit: 100 })).map((k) => k.id);
    expect(ids).toContain(onlyA.record.id);
    expect(ids).not.toContain(both.record.id);
    expect(ids).not.toContain(all.record.id);
    expect((await listApiKeys(db, { withinUserIds: null, limit: 100 })).map((k) => k.id)).toEqual(
      expect.arrayContaining([onlyA.record.id, both.record.id, all.record.id]),
    );
  });

  it('records the last use at most once per interval', async () => {
    const { record } = await createApiKey(db, {
      name: 't',
      role: 'viewer',
      userIds: [A],
      allAccounts: false,
      createdById: null,
    });
    const t0 = new Date('2030-01-01T00:00:00Z');
    await touchApiKeyLastUsed(db, record.id, t0, 60_000);
    await touchApiKeyLastUsed(db, record.id, new Date(t0.getTime() + 30_000), 60_000);
    expect((await db.prisma.apiKey.findUniqueOrThrow({ where: { id: record.id } })).lastUsedAt).toEqual(t0);
    await touchApiKeyLastUsed(db, record.id, new Date(t0.getTime() + 61_000), 60_000);
    expect((await db.prisma.apiKey.findUniqueOrThrow({ where: { id: record.id } })).lastUsedAt).toEqual(
      new Date(t0.getTime() + 61_000),
    );
  });
});

describe('idempotency records', () => {
  const newRollout = (apiKeyId: string, key: string) =>
    insertRollout(
      db,
      {
        userId: A,
        force: false,
        concurrency: 1,
        maxAttempts: 1,
        policy: {},
        instanceIds: ['i-abc'],
        by: { actor: { kind: 'api_key', id: apiKeyId, name: 'test key' } },
      },
      {
        inTransaction: (tx, rolloutId) =>
          claimIdempotencyKey(tx, { apiKeyId, key, requestHash: 'h', resourceId: rolloutId, status: 202 }),
      },
    );

  it('commits with the rollout; a second claim of the key rolls its whole rollout back', async () => {
    const { record } = await createApiKey(db, {
      name: 'i',
      role: 'operator',
      userIds: [A],
      allAccounts: false,
      createdById: null,
    });
    const before = await db.prisma.rollout.count();
    const results = await Promise.allSettled([
      newRollout(record.id, 'same'),
      newRollout(record.id, 'same'),
      newRollout(record.id, 'same'),
    ]);
    const made = results.filter((r) => r.status === 'fulfilled');
    expect(made).toHaveLength(1);
    expect(
      results
        .filter((r) => r.status === 'rejected')
        .every((r) => {
          const reason = (r as PromiseRejectedResult).reason as IdempotencyKeyTakenError;
          return reason instanceof IdempotencyKeyTakenError && reason.code === 'idempotency_key_taken';
        }),
    ).toBe(true);
    expect(await db.prisma.rollout.count()).toBe(before + 1);
    const stored = await findIdempotencyRecord(db, record.id, 'same');
    expect(stored?.resourceId).toBe(
      (made[0] as PromiseFulfilledResult<Awaited<ReturnType<typeof newRollout>>>).value.rollout.id,
    );
    expect((await db.prisma.rollout.findUniqueOrThrow({ where: { id: stored!.resourceId! } })).createdByKeyId).toBe(
      record.id,
    );
    expect(await deleteIdempotencyRecordsBefore(db, new Date(Date.now() + 1000))).toBeGreaterThanOrEqual(1);
    expect(await findIdempotencyRecord(db, record.id, 'same')).toBeNull();
  });
});

describe('listRollouts', () => {
  it('pages newest first within the given accounts', async () => {
    const made: string[] = [];
    for (let i = 0; i < 3; i++)
      made.push(
        (
          await insertRollout(db, {
            userId: B,
            force: false,
            concurrency: 1,
            maxAttempts: 1,
            policy: {},
            instanceIds: [`i-l${i}`],
          })
        ).rollout.id,
      );
    // Newest first; rollouts made in the same millisecond are ordered by id.
    const expected = (
      await db.prisma.rollout.findMany({
        where: { id: { in: made } },
        orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
      })
    ).map((r) => r.id);
    const first = await listRollouts(db, { userIds: [B], limit: 2 });
    expect(first.rollouts.map((r) => r.id)).toEqual(expected.slice(0, 2));
    const second = await listRollouts(db, { userIds: [B], limit: 2, after: first.next! });
    expect(second.rollouts.map((r) => r.id)).toEqual(expected.slice(2));
    expect(second.next).toBeNull();
    expect((await listRollouts(db, { userIds: [], limit: 10 })).rollouts).toEqual([]);
  });
});
