/**
 * Accounts with credentials of their own, against the simulator's account-aware gateway: each rollout signed with its
 * account's key, a rotation and a new rate taking effect in a running pool, a wrong-owner key pausing the rollout until
 * fixed, and an exact replay signed with the credentials its attempt was claimed with.
 */
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createCmsClient } from '@fleet/cms-client';
import {
  accountSecretContext,
  claimAttempt,
  createAccount,
  rotateAccountCredentials,
  findAccountCalling,
  updateAccount,
} from '@fleet/db';
import { resumeRollout } from '@fleet/rollout-control';
import { createSecretBox, parseEncryptionKey } from '@fleet/secrets';
import { worstSecond } from '@fleet/testing';
import type { WorkerHarness } from './support.ts';
import { ACCESS_KEY_ID, rolloutFacts, startHarness } from './support.ts';

let h: WorkerHarness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const box = createSecretBox({ current: parseEncryptionKey(randomBytes(32).toString('base64')) });
const ACCOUNT_A = '1111111111111111';
const ACCOUNT_B = '2222222222222222';
const KEY_A1 = { accessKeyId: 'LTAIaccountA0001', accessKeySecret: 'secret-a1-Hh3kQ9' };
const KEY_A2 = { accessKeyId: 'LTAIaccountA0002', accessKeySecret: 'secret-a2-Vb7nW2' };
const KEY_B = { accessKeyId: 'LTAIaccountB0001', accessKeySecret: 'secret-b-Lp4zT6' };

const sealed = (userId: string, key: { accessKeyId: string; accessKeySecret: string }) => ({
  accessKeyId: key.accessKeyId,
  accessKeySecret: box.seal(key.accessKeySecret, accountSecretContext(userId)),
  securityToken: null,
});

async function addAccount(harness: WorkerHarness, userId: string, key: typeof KEY_A1 | null, rateLimitRps?: number) {
  await createAccount(harness.db, {
    userId,
    name: `account ${userId}`,
    endpoint: null,
    rateLimitRps: rateLimitRps ?? null,
    // The harness's own burst is large (1000); an account with a rate of its own gets a burst of 1.
    rateBurst: rateLimitRps === undefined ? null : 1,
    credentials: key ? sealed(userId, key) : null,
    createdByKeyId: null,
  });
}

const ids = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `i-${prefix}${i}`);

describe('accounts with credentials of their own', () => {
  it("signs every call of a rollout with its account's key, and a rotation switches the running pool to the new key with no call refused", async () => {
    h = await startHarness({ latencyMs: 20, installDurationMs: 50 });
    h.sim.defineAccounts([
      { ...KEY_A1, userId: ACCOUNT_A },
      { ...KEY_A2, userId: ACCOUNT_A },
      { ...KEY_B, userId: ACCOUNT_B },
    ]);
    await addAccount(h, ACCOUNT_A, KEY_A1, 20);
    await addAccount(h, ACCOUNT_B, KEY_B);
    const rolloutA = await h.createRollout(ids('a', 120), { userId: ACCOUNT_A, concurrency: 5 });
    const rolloutB = await h.createRollout(ids('b', 20), { userId: ACCOUNT_B });
    // An account without a row: the worker's own pair, as before accounts existed.
    const rolloutOwn = await h.createRollout(ids('own', 10));
    await h.startPool({ box, accountRefreshMs: 200 });
    await h.startPool({ box, accountRefreshMs: 200 });

    await vi.waitFor(() => expect(h!.sim.stats().callsByAccessKeyId[KEY_A1.accessKeyId]).toBeGreaterThan(10), {
      timeout: 20_000,
      interval: 20,
    });
    await rotateAccountCredentials(h.db, ACCOUNT_A, sealed(ACCOUNT_A, KEY_A2));
    await vi.waitFor(() => expect(h!.sim.stats().callsByAccessKeyId[KEY_A2.accessKeyId]).toBeGreaterThan(0), {
      timeout: 5000,
      interval: 20,
    });
    const oldKeyCallsAtSwitch = h.sim.stats().callsByAccessKeyId[KEY_A1.accessKeyId]!;
    for (const id of [rolloutA, rolloutB, rolloutOwn]) await h.waitForRolloutStatus(id, 'completed', 60_000);

    const stats = h.sim.stats();
    expect(stats.callsByUserIdAndAccessKeyId[ACCOUNT_B]).toEqual({ [KEY_B.accessKeyId]: 20 });
    expect(Object.keys(stats.callsByUserIdAndAccessKeyId[ACCOUNT_A]!).sort()).toEqual([
      KEY_A1.accessKeyId,
      KEY_A2.accessKeyId,
    ]);
    // Every call of A's rollout is an attempt row of it, each signed with one of A's keys.
    const attemptsA = await h.db.prisma.installAttempt.count({ where: { rolloutId: rolloutA } });
    expect({ calls: stats.callsByUserId[ACCOUNT_A], byCode: stats.byCode }).toMatchObject({ calls: attemptsA });
    // Once the new key was seen, the old one signed at most the calls already past their refresh (a few).
    expect(stats.callsByAccessKeyId[KEY_A1.accessKeyId]! - oldKeyCallsAtSwitch).toBeLessThan(20);
    expect(stats.callsByUserIdAndAccessKeyId['1234567898765432']).toEqual({ [ACCESS_KEY_ID]: 10 });
    expect(stats.rejected).toBe(0);
    // Each account at its own rate: no second of A's calls' scheduled starts holds more than its 20 plus its burst of 1.
    const perSecond = await h.db.prisma.$queryRaw<{ n: bigint }[]>`
      SELECT count(*) AS n FROM install_attempt WHERE rollout_id = ${rolloutA}::uuid
      GROUP BY date_trunc('second', started_at) ORDER BY n DESC LIMIT 1`;
    expect(Number(perSecond[0]!.n)).toBeLessThanOrEqual(21);
    const instancesA = await rolloutFacts(h.db, rolloutA);
    expect(instancesA.every((i) => i.state === 'succeeded')).toBe(true);
    // Each attempt names the credentials version it was signed with, never the secret.
    const versions = new Set(instancesA.flatMap((i) => i.attempts.map((a) => a.credentialsId?.toString())));
    expect(versions.size).toBe(2);
  });

  it("a lower rateLimitRps set mid-rollout holds the account's calls to it (plus the burst) from the pool's next refresh", async () => {
    h = await startHarness({ latencyMs: 5, installDurationMs: 0 });
    h.sim.defineAccounts([{ ...KEY_A1, userId: ACCOUNT_A }]);
    const [before, after] = [40, 10];
    await addAccount(h, ACCOUNT_A, KEY_A1, before);
    // At 5 ms a call, 10 at once could make 2,000 a second: the account's rate is what holds the calls back. Each
    // job waiting for its turn holds a start the old rate gave it, so up to 10 calls start at the old rate after the
    // refresh (within 10 / 40 s); a larger concurrency would push that tail further.
    const rolloutId = await h.createRollout(ids('rate', 120), { userId: ACCOUNT_A, concurrency: 10 });
    const refreshMs = 200;
    await h.startPool({ box, accountRefreshMs: refreshMs });
    await vi.waitFor(() => expect(h!.sim.stats().callsByUserId[ACCOUNT_A]).toBeGreaterThanOrEqual(40), {
      timeout: 20_000,
      interval: 20,
    });
    const changedAt = Date.now();
    expect(await updateAccount(h.db, ACCOUNT_A, { rateLimitRps: after })).toMatchObject({ rateLimitRps: after });
    await h.waitForRolloutStatus(rolloutId, 'completed', 60_000);

    const starts = (
      await h.db.prisma.installAttempt.findMany({ where: { rolloutId }, select: { startedAt: true } })
    ).map((a) => a.startedAt.getTime());
    // The old rate was in force before the change: far more than the new rate + burst in its worst second.
    expect(worstSecond(starts.filter((t) => t < changedAt))).toBeGreaterThan(after + 1);
    // From the refresh on (and a second for the starts already given at the old rate), no second holds more than the
    // new rate plus the account's burst of 1; and there were enough of them to tell.
    const settled = starts.filter((t) => t >= changedAt + refreshMs + 1000);
    expect(settled.length).toBeGreaterThanOrEqual(20);
    expect(worstSecond(settled)).toBeLessThanOrEqual(after + 1);
  });

  it("pauses the rollout when its key is not the account's (Forbidden.NotAuthorized); new credentials and a resume complete it, none failed", async () => {
    h = await startHarness({ latencyMs: 5, installDurationMs: 50 });
    h.sim.defineAccounts([
      { ...KEY_A1, userId: ACCOUNT_A },
      { ...KEY_B, userId: ACCOUNT_B },
    ]);
    await addAccount(h, ACCOUNT_A, KEY_B);
    const rolloutId = await h.createRollout(ids('w', 30), { userId: ACCOUNT_A });
    await h.startPool({ box });
    await h.waitForRolloutStatus(rolloutId, 'paused', 30_000);
    const paused = await h.db.prisma.rollout.findUniqueOrThrow({ where: { id: rolloutId } });
    expect(paused.statusReason).toContain('Forbidden.NotAuthorized');

    await rotateAccountCredentials(h.db, ACCOUNT_A, sealed(ACCOUNT_A, KEY_A1));
    // Resume once the pool has read the new key (its refresh is 200 ms): a call still signed with the old one would
    // pause the rollout again.
    await new Promise((resolve) => setTimeout(resolve, 500));
    const control = {
      db: h.db,
      redis: h.redis,
      prefix: h.prefix,
      logger: h.logger,
      by: { actor: { kind: 'system', id: 'test' } },
    } as const;
    expect((await resumeRollout(control, rolloutId)).kind).toBe('changed');
    await h.waitForRolloutStatus(rolloutId, 'completed', 30_000);
    const instances = await rolloutFacts(h.db, rolloutId);
    expect(instances.filter((i) => i.state !== 'succeeded')).toEqual([]);
    expect(h.sim.stats().callsByUserIdAndAccessKeyId[ACCOUNT_A]![KEY_A1.accessKeyId]).toBeGreaterThanOrEqual(30);
  });

  it("replays a dead worker's attempt signed with the credentials it was claimed with, though the account was rotated since", async () => {
    h = await startHarness({ latencyMs: 1, installDurationMs: 50 });
    h.sim.defineAccounts([
      { ...KEY_A1, userId: ACCOUNT_A },
      { ...KEY_A2, userId: ACCOUNT_A },
    ]);
    await addAccount(h, ACCOUNT_A, KEY_A1);
    const rolloutId = await h.createRollout(['i-replayed'], { userId: ACCOUNT_A });
    const instance = await h.db.prisma.rolloutInstance.findFirstOrThrow({ where: { rolloutId } });
    const first = (await findAccountCalling(h.db, ACCOUNT_A))!.credentials!;
    // The dead worker: claimed (10 s ago, stale for the pool) signed with version 1, sent its request, lost the answer.
    const claim = await claimAttempt(h.db, {
      rolloutInstanceId: instance.id,
      rolloutId,
      workerId: 'dead-worker',
      signatureNonce: crypto.randomUUID(),
      credentialsId: first.id,
      staleAfterMs: 7000,
      now: new Date(Math.floor(Date.now() / 1000) * 1000 - 10_000),
    });
    if (claim.kind !== 'claimed' || !claim.signing) throw new Error(`expected a signed claim, got ${claim.kind}`);
    const client = createCmsClient({ endpoint: h.simUrl, credentials: KEY_A1 });
    await client.nodeInstall({ userId: ACCOUNT_A, instanceId: 'i-replayed', force: true, exactSigning: claim.signing });
    await client.close();
    await rotateAccountCredentials(h.db, ACCOUNT_A, sealed(ACCOUNT_A, KEY_A2));

    await h.startPool({ box, callTimeoutMs: 2000 });
    await h.waitForRolloutStatus(rolloutId, 'completed', 30_000);
    const [facts] = await rolloutFacts(h.db, rolloutId);
    // The replay was the same request (same key, same nonce): refused as SignatureNonceUsed, so the lost call's
    // success was found with NodeStatus, and NodeInstall was not called again.
    expect(facts!.attempts.map((a) => [a.attemptNo, a.outcomeKind, a.credentialsId])).toEqual([
      [1, 'success_inferred', first.id],
    ]);
    const stats = h.sim.stats();
    expect(stats.byCode['SignatureNonceUsed']).toBe(1);
    expect(stats.callsByInstance['i-replayed']).toBe(1);
  });

  it('pauses the rollout of an account whose credentials this worker cannot open (no FLEET_ENCRYPTION_KEY), with the reason', async () => {
    h = await startHarness({ latencyMs: 1 });
    await addAccount(h, ACCOUNT_A, KEY_A1);
    const rolloutId = await h.createRollout(ids('nokey', 3), { userId: ACCOUNT_A });
    await h.startPool();
    await h.waitForRolloutStatus(rolloutId, 'paused', 30_000);
    const rollout = await h.db.prisma.rollout.findUniqueOrThrow({ where: { id: rolloutId } });
    expect(rollout.statusReason).toContain('encryption_key_missing');
    expect(h.sim.stats().callsByUserId[ACCOUNT_A]).toBeUndefined();
  });
});
