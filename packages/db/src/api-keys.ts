import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { EventSource, NewFleetEvent } from '@fleet/rollout-domain';
import type { Database } from './client.ts';
import { DIRECT_WRITER, recordEvents } from './events/record-events.ts';

/**
 * API keys. A key is `flt_` + 32 random bytes in base64url; only its SHA-256 (hex) is stored, so a database dump
 * reveals no usable key, and a key is found by hashing what the caller presents and looking the hash up (a unique
 * index), never by comparing secrets in application code. The key itself exists only in the answer that made it.
 */

export const API_ROLES = ['viewer', 'operator', 'admin'] as const;
export type ApiRole = (typeof API_ROLES)[number];

/** Recognisable prefix of keys this product makes (secret scanners and people can tell what leaked). */
export const API_KEY_PREFIX = 'flt_';
/** Characters of a key kept in clear (`keyPrefix`) to tell keys apart in listings and logs: `flt_` + 8. */
const SHOWN_PREFIX_LENGTH = 12;

export type ApiKeyRecord = {
  id: string;
  name: string;
  /** The first characters of the key; never enough to use it. */
  keyPrefix: string;
  role: ApiRole;
  /** Account UserIds this key may act for (empty for an allAccounts key). */
  userIds: string[];
  allAccounts: boolean;
  createdAt: Date;
  createdById: string | null;
  revokedAt: Date | null;
  lastUsedAt: Date | null;
};

/** SHA-256 of the whole key, hex: what `api_key.key_hash` holds. */
export function hashApiKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

/** The part of a key that may be shown and logged. */
export function apiKeyShownPrefix(key: string): string {
  return key.slice(0, SHOWN_PREFIX_LENGTH);
}

/** A new random key (256 bits). */
export function generateApiKey(): string {
  return API_KEY_PREFIX + randomBytes(32).toString('base64url');
}

const SELECT = {
  id: true,
  name: true,
  keyPrefix: true,
  role: true,
  userIds: true,
  allAccounts: true,
  createdAt: true,
  createdById: true,
  revokedAt: true,
  lastUsedAt: true,
} as const;

function toRecord(row: Omit<ApiKeyRecord, 'userIds'> & { userIds: string[] | null }): ApiKeyRecord {
  return { ...row, userIds: row.userIds ?? [] };
}

export type NewApiKey = {
  name: string;
  role: ApiRole;
  userIds: readonly string[];
  allAccounts: boolean;
  /** The key that made this one (null: the CLI or the bootstrap variable). */
  createdById: string | null;
  /** Who made it, for its api_key.created event. Default DIRECT_WRITER (tests, tools). */
  by?: EventSource;
};

/** What an API key's events say of it: never the key nor its hash. */
function keyEvent(type: 'api_key.created' | 'api_key.revoked', key: ApiKeyRecord): NewFleetEvent {
  return {
    type,
    rolloutId: null,
    userId: null,
    data: { keyId: key.id, name: key.name, role: key.role, userIds: key.userIds, allAccounts: key.allAccounts },
  };
}

/** The actor of the bootstrap admin key's creation (FLEET_ADMIN_API_KEY, at the API's start). */
const BOOTSTRAP_SOURCE: EventSource = { actor: { kind: 'system', id: 'bootstrap' } };

/** Makes a key and stores its hash. Returns the record and the key, which must be shown once and never again. */
export async function createApiKey(db: Database, input: NewApiKey): Promise<{ record: ApiKeyRecord; key: string }> {
  const key = generateApiKey();
  const record = await db.prisma.$transaction(async (tx) => {
    const row = await tx.apiKey.create({
      data: {
        id: randomUUID(),
        name: input.name,
        keyPrefix: apiKeyShownPrefix(key),
        keyHash: hashApiKey(key),
        role: input.role,
        userIds: [...input.userIds],
        allAccounts: input.allAccounts,
        createdById: input.createdById,
      },
      select: SELECT,
    });
    const created = toRecord(row);
    await recordEvents(tx, input.by ?? DIRECT_WRITER, [keyEvent('api_key.created', created)]);
    return created;
  });
  return { record, key };
}

/** The key whose hash this is, unless it was revoked. */
/**
 * The key behind a request, on every request: straight to pg as a prepared statement, as Prisma's per-query CPU
 * (its query compiler) was the largest part of a poller's cost to the API (docs/performance.md, reads under pollers).
 */
export async function findActiveApiKeyByHash(db: Database, keyHash: string): Promise<ApiKeyRecord | null> {
  const { rows } = await db.pool.query<Omit<ApiKeyRecord, 'userIds'> & { userIds: string[] | null }>({
    name: 'fleet_find_active_api_key',
    text: `SELECT id::text AS "id", name AS "name", key_prefix AS "keyPrefix", role::text AS "role", user_ids AS "userIds",
        all_accounts AS "allAccounts", created_at AS "createdAt", created_by_id::text AS "createdById",
        revoked_at AS "revokedAt", last_used_at AS "lastUsedAt"
      FROM api_key WHERE key_hash = $1 AND revoked_at IS NULL LIMIT 1`,
    values: [keyHash],
  });
  return rows[0] ? toRecord(rows[0]) : null;
}

export async function findApiKey(db: Database, id: string): Promise<ApiKeyRecord | null> {
  const row = await db.prisma.apiKey.findUnique({ where: { id }, select: SELECT });
  return row ? toRecord(row) : null;
}

/**
 * Keys, newest first. `withinUserIds`: only keys bound to a subset of these accounts (what an admin limited to
 * those accounts may manage); null: every key.
 */
export async function listApiKeys(
  db: Database,
  options: { withinUserIds: readonly string[] | null; limit: number },
): Promise<ApiKeyRecord[]> {
  const rows = await db.prisma.apiKey.findMany({
    // Overlap narrows the rows; "contained in" is checked below, as Prisma has no `<@` filter. Scoped admins have few keys.
    where:
      options.withinUserIds === null ? {} : { allAccounts: false, userIds: { hasSome: [...options.withinUserIds] } },
    orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
    select: SELECT,
    ...(options.withinUserIds === null ? { take: options.limit } : {}),
  });
  const records = rows.map(toRecord);
  if (options.withinUserIds === null) return records;
  const allowed = new Set(options.withinUserIds);
  return records
    .filter((k) => !k.allAccounts && k.userIds.length > 0 && k.userIds.every((u) => allowed.has(u)))
    .slice(0, options.limit);
}

/**
 * Revokes a key (a guarded write), with its api_key.revoked event in the same transaction. False when it was
 * already revoked or does not exist. `by` default DIRECT_WRITER (tests, tools).
 */
export async function revokeApiKey(
  db: Database,
  id: string,
  at = new Date(),
  by: EventSource = DIRECT_WRITER,
): Promise<boolean> {
  return db.prisma.$transaction(async (tx) => {
    const { count } = await tx.apiKey.updateMany({ where: { id, revokedAt: null }, data: { revokedAt: at } });
    if (count === 0) return false;
    const key = toRecord(await tx.apiKey.findUniqueOrThrow({ where: { id }, select: SELECT }));
    await recordEvents(tx, by, [keyEvent('api_key.revoked', key)]);
    return true;
  });
}

/**
 * Records that a key was used, at most once per `minIntervalMs` per key (a guarded write, so many API processes
 * do not pile up updates of the same row).
 */
export async function touchApiKeyLastUsed(
  db: Database,
  id: string,
  at = new Date(),
  minIntervalMs = 60_000,
): Promise<void> {
  await db.prisma.apiKey.updateMany({
    where: {
      id,
      revokedAt: null,
      OR: [{ lastUsedAt: null }, { lastUsedAt: { lt: new Date(at.getTime() - minIntervalMs) } }],
    },
    data: { lastUsedAt: at },
  });
}

export type BootstrapKeyResult = { record: ApiKeyRecord; created: boolean };

/**
 * Makes sure the key given in the environment (FLEET_ADMIN_API_KEY) exists as an admin key for every account.
 * Idempotent, safe when several API processes start at once (upsert on the unique hash). A bootstrap key that an
 * admin revoked stays revoked: restarting the API must not undo a revocation (set a new value instead).
 */
export async function ensureBootstrapAdminKey(
  db: Database,
  key: string,
  name = 'bootstrap admin (FLEET_ADMIN_API_KEY)',
): Promise<BootstrapKeyResult> {
  const keyHash = hashApiKey(key);
  const id = randomUUID();
  const upsert = () =>
    db.prisma.$transaction(async (tx) => {
      const row = await tx.apiKey.upsert({
        where: { keyHash },
        create: {
          id,
          name,
          keyPrefix: apiKeyShownPrefix(key),
          keyHash,
          role: 'admin',
          userIds: [],
          allAccounts: true,
          createdById: null,
        },
        update: { role: 'admin', allAccounts: true },
        select: SELECT,
      });
      if (row.id === id) await recordEvents(tx, BOOTSTRAP_SOURCE, [keyEvent('api_key.created', toRecord(row))]);
      return row;
    });
  // Two processes inserting the same hash at once: the loser sees a unique violation (P2002); the row now exists.
  const row = await upsert().catch((error: { code?: string }) =>
    error?.code === 'P2002' ? upsert() : Promise.reject(error),
  );
  return { record: toRecord(row), created: row.id === id };
}
