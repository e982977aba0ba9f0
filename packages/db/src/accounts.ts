import type { EventSource, NewFleetEvent } from '@fleet/rollout-domain';
import { OPEN_ROLLOUT_STATUSES } from '@fleet/rollout-domain';
import type { Database } from './client.ts';
import { AccountExistsError, AccountHasOpenRolloutsError } from './errors.ts';
import { DIRECT_WRITER, recordEvents } from './events/record-events.ts';
import type { Prisma } from './generated/prisma/client.ts';

/**
 * Accounts: the Alibaba accounts (UserIds) the product calls CloudMonitor for, each with its own AccessKey (sealed by
 * the caller with @fleet/secrets before it reaches this module: only ciphertext is stored), endpoint and limits.
 * Credentials are versioned (account_credentials): a rotation adds a version and retires the previous one, which is
 * kept while an attempt signed with it may still be replayed exactly (RETIRED_CREDENTIALS_KEPT_MS), so the attempt
 * names its version (install_attempt.credentials_id) and never a secret. Every change writes its account.* event in
 * its transaction, with the AccessKeyId masked.
 */

/** A retired credentials version is deleted by the first rotation this long after it was retired (replays are done). */
export const RETIRED_CREDENTIALS_KEPT_MS = 60 * 60_000;

/** An AccessKeyId as it may be shown: its last 4 characters (none of a key of 4 or fewer). */
export function maskAccessKeyId(accessKeyId: string): string {
  return accessKeyId.length > 4 ? `****${accessKeyId.slice(-4)}` : '****';
}

/** Credentials as stored: the AccessKeyId in clear, the secret and token already sealed. */
export type SealedCredentials = {
  accessKeyId: string;
  /** Sealed under accountSecretContext(userId). */
  accessKeySecret: string;
  /** Sealed under accountTokenContext(userId); null for a permanent AccessKey. */
  securityToken: string | null;
};

export type AccountRecord = {
  userId: string;
  name: string;
  endpoint: string | null;
  rateLimitRps: number | null;
  rateBurst: number | null;
  /** The current AccessKeyId, masked; null without credentials of its own. */
  accessKeyId: string | null;
  hasSecurityToken: boolean;
  credentialsUpdatedAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
  createdByKeyId: string | null;
};

export type AccountSettings = {
  name: string;
  endpoint: string | null;
  rateLimitRps: number | null;
  rateBurst: number | null;
};

export type NewAccount = AccountSettings & {
  userId: string;
  credentials: SealedCredentials | null;
  createdByKeyId: string | null;
  /** Default DIRECT_WRITER (tests, tools). */
  by?: EventSource;
};

const ACCOUNT_SELECT = {
  userId: true,
  name: true,
  endpoint: true,
  rateLimitRps: true,
  rateBurst: true,
  credentialsId: true,
  credentialsUpdatedAt: true,
  createdAt: true,
  updatedAt: true,
  createdByKeyId: true,
} as const;

type AccountRow = Prisma.AccountGetPayload<{ select: typeof ACCOUNT_SELECT }>;
type Tx = Prisma.TransactionClient;

async function toRecord(tx: Tx, row: AccountRow): Promise<AccountRecord> {
  const current =
    row.credentialsId === null
      ? null
      : await tx.accountCredentials.findUnique({
          where: { id: row.credentialsId },
          select: { accessKeyId: true, securityToken: true },
        });
  return {
    userId: row.userId,
    name: row.name,
    endpoint: row.endpoint,
    rateLimitRps: row.rateLimitRps,
    rateBurst: row.rateBurst,
    accessKeyId: current ? maskAccessKeyId(current.accessKeyId) : null,
    hasSecurityToken: current?.securityToken != null,
    credentialsUpdatedAt: row.credentialsUpdatedAt,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
    createdByKeyId: row.createdByKeyId,
  };
}

function accountEvent(type: 'account.created' | 'account.deleted', account: AccountRecord): NewFleetEvent {
  return { type, rolloutId: null, userId: account.userId, data: facts(account) };
}

function facts(account: AccountRecord) {
  return {
    name: account.name,
    endpoint: account.endpoint,
    rateLimitRps: account.rateLimitRps,
    rateBurst: account.rateBurst,
    accessKeyId: account.accessKeyId,
    hasSecurityToken: account.hasSecurityToken,
  };
}

async function insertCredentials(tx: Tx, userId: string, credentials: SealedCredentials, at: Date): Promise<bigint> {
  const row = await tx.accountCredentials.create({
    data: {
      userId,
      accessKeyId: credentials.accessKeyId,
      accessKeySecret: credentials.accessKeySecret,
      securityToken: credentials.securityToken,
      createdAt: at,
    },
    select: { id: true },
  });
  return row.id;
}

/** Makes an account (and its first credentials version) with its account.created event. AccountExistsError if taken. */
export async function createAccount(db: Database, input: NewAccount, at = new Date()): Promise<AccountRecord> {
  try {
    return await db.prisma.$transaction(async (tx) => {
      await tx.account.create({
        data: {
          userId: input.userId,
          name: input.name,
          endpoint: input.endpoint,
          rateLimitRps: input.rateLimitRps,
          rateBurst: input.rateBurst,
          createdByKeyId: input.createdByKeyId,
          createdAt: at,
          updatedAt: at,
        },
      });
      if (input.credentials) {
        const credentialsId = await insertCredentials(tx, input.userId, input.credentials, at);
        await tx.account.update({
          where: { userId: input.userId },
          data: { credentialsId, credentialsUpdatedAt: at },
        });
      }
      const row = await tx.account.findUniqueOrThrow({ where: { userId: input.userId }, select: ACCOUNT_SELECT });
      const record = await toRecord(tx, row);
      await recordEvents(tx, input.by ?? DIRECT_WRITER, [accountEvent('account.created', record)]);
      return record;
    });
  } catch (error) {
    if ((error as { code?: string })?.code === 'P2002') throw new AccountExistsError(input.userId, { cause: error });
    throw error;
  }
}

export async function findAccount(db: Database, userId: string): Promise<AccountRecord | null> {
  return db.prisma.$transaction(async (tx) => {
    const row = await tx.account.findUnique({ where: { userId }, select: ACCOUNT_SELECT });
    return row ? toRecord(tx, row) : null;
  });
}

/** Accounts by UserId, of these accounts only (null: every account), at most `limit`, after `afterUserId`. */
export async function listAccounts(
  db: Database,
  options: { userIds: readonly string[] | null; limit: number; afterUserId?: string },
): Promise<AccountRecord[]> {
  return db.prisma.$transaction(async (tx) => {
    const rows = await tx.account.findMany({
      where: {
        ...(options.userIds === null ? {} : { userId: { in: [...options.userIds] } }),
        ...(options.afterUserId !== undefined ? { AND: [{ userId: { gt: options.afterUserId } }] } : {}),
      },
      orderBy: { userId: 'asc' },
      take: options.limit,
      select: ACCOUNT_SELECT,
    });
    const records: AccountRecord[] = [];
    for (const row of rows) records.push(await toRecord(tx, row));
    return records;
  });
}

/**
 * Changes some of an account's settings (a field absent is left as it is; null puts it back to the default), with
 * its account.updated event naming the fields set. Null when there is no such account.
 */
export async function updateAccount(
  db: Database,
  userId: string,
  patch: Partial<AccountSettings>,
  by: EventSource = DIRECT_WRITER,
): Promise<AccountRecord | null> {
  const changed = (Object.keys(patch) as (keyof AccountSettings)[]).filter((k) => patch[k] !== undefined);
  return db.prisma.$transaction(async (tx) => {
    const { count } = await tx.account.updateMany({ where: { userId }, data: { ...patch, updatedAt: new Date() } });
    if (count === 0) return null;
    const record = await toRecord(
      tx,
      await tx.account.findUniqueOrThrow({ where: { userId }, select: ACCOUNT_SELECT }),
    );
    await recordEvents(tx, by, [
      { type: 'account.updated', rolloutId: null, userId, data: { ...facts(record), changed } },
    ]);
    return record;
  });
}

/**
 * Rotation: the account's calls are signed with `credentials` from the next time a worker reads the account (within
 * its refresh interval, no restart). The previous version is retired, not deleted (a replay of an attempt signed
 * with it still needs it); versions retired over RETIRED_CREDENTIALS_KEPT_MS ago are deleted now. Null when there is
 * no such account.
 */
export async function rotateAccountCredentials(
  db: Database,
  userId: string,
  credentials: SealedCredentials,
  by: EventSource = DIRECT_WRITER,
  at = new Date(),
): Promise<AccountRecord | null> {
  return db.prisma.$transaction(async (tx) => {
    // The row lock orders concurrent rotations of one account: each retires the version the one before it set.
    const locked = await tx.$queryRaw<{ credentials_id: bigint | null }[]>`
      SELECT credentials_id FROM account WHERE user_id = ${userId} FOR UPDATE`;
    if (locked.length === 0) return null;
    const before = await toRecord(
      tx,
      await tx.account.findUniqueOrThrow({ where: { userId }, select: ACCOUNT_SELECT }),
    );
    const credentialsId = await insertCredentials(tx, userId, credentials, at);
    await tx.accountCredentials.updateMany({
      where: { userId, retiredAt: null, id: { not: credentialsId } },
      data: { retiredAt: at },
    });
    await tx.accountCredentials.deleteMany({
      where: { userId, retiredAt: { lt: new Date(at.getTime() - RETIRED_CREDENTIALS_KEPT_MS) } },
    });
    await tx.account.update({
      where: { userId },
      data: { credentialsId, credentialsUpdatedAt: at, updatedAt: at },
    });
    const record = await toRecord(
      tx,
      await tx.account.findUniqueOrThrow({ where: { userId }, select: ACCOUNT_SELECT }),
    );
    await recordEvents(tx, by, [
      {
        type: 'account.credentials_rotated',
        rolloutId: null,
        userId,
        data: { ...facts(record), previousAccessKeyId: before.accessKeyId },
      },
    ]);
    return record;
  });
}

/**
 * Deletes an account and every version of its credentials, with its account.deleted event; its later rollouts are
 * signed with the workers' own pair again. AccountHasOpenRolloutsError while a rollout of it is open (running,
 * paused, scheduled or waiting for a window: it has calls still to make, which would switch keys mid-rollout). False when there is no such account.
 * The account's row is locked (FOR UPDATE) before the open rollouts are counted: a rollout being made for it holds
 * the row (FOR KEY SHARE, rollouts.ts) until it commits, so the count waits for it and sees it, and a rollout made
 * after the lock waits for the delete and is made for an account that is already gone.
 */
export async function deleteAccount(db: Database, userId: string, by: EventSource = DIRECT_WRITER): Promise<boolean> {
  return db.prisma.$transaction(async (tx) => {
    const locked = await tx.$queryRaw<{ user_id: string }[]>`
      SELECT user_id FROM account WHERE user_id = ${userId} FOR UPDATE`;
    if (locked.length === 0) return false;
    const row = await tx.account.findUnique({ where: { userId }, select: ACCOUNT_SELECT });
    if (!row) return false;
    const open = await tx.rollout.count({ where: { userId, status: { in: [...OPEN_ROLLOUT_STATUSES] } } });
    if (open > 0) throw new AccountHasOpenRolloutsError(userId, open);
    const record = await toRecord(tx, row);
    await tx.account.delete({ where: { userId } });
    await recordEvents(tx, by, [accountEvent('account.deleted', record)]);
    return true;
  });
}
