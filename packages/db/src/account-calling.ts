import type { Database } from './client.ts';
import type { SealedCredentials } from './accounts.ts';

/**
 * What a worker (or the reconciler) reads to call CloudMonitor as an account: its endpoint, limits and current
 * credentials, still sealed (the caller opens them, and only in memory). Straight to pg as prepared statements: every
 * worker reads each busy account about once per its refresh interval.
 */

export type StoredCredentials = SealedCredentials & { id: bigint; userId: string };

export type AccountCallingRecord = {
  userId: string;
  endpoint: string | null;
  rateLimitRps: number | null;
  rateBurst: number | null;
  /** Null: the account has no credentials of its own (the workers' pair signs its calls). */
  credentials: StoredCredentials | null;
};

type CredentialsRow = {
  id: string;
  user_id: string;
  access_key_id: string;
  access_key_secret: string;
  security_token: string | null;
};

function toCredentials(row: CredentialsRow): StoredCredentials {
  return {
    id: BigInt(row.id),
    userId: row.user_id,
    accessKeyId: row.access_key_id,
    accessKeySecret: row.access_key_secret,
    securityToken: row.security_token,
  };
}

/** The account's calling settings; null when there is no account row (the workers' own pair and limits apply). */
export async function findAccountCalling(db: Database, userId: string): Promise<AccountCallingRecord | null> {
  const { rows } = await db.pool.query<
    Omit<CredentialsRow, 'id' | 'access_key_id' | 'access_key_secret'> & {
      endpoint: string | null;
      rate_limit_rps: number | null;
      rate_burst: number | null;
      id: string | null;
      access_key_id: string | null;
      access_key_secret: string | null;
    }
  >({
    name: 'fleet_find_account_calling',
    text: `SELECT a.user_id, a.endpoint, a.rate_limit_rps, a.rate_burst,
        c.id::text AS id, c.access_key_id, c.access_key_secret, c.security_token
      FROM account a LEFT JOIN account_credentials c ON c.id = a.credentials_id
      WHERE a.user_id = $1`,
    values: [userId],
  });
  const row = rows[0];
  if (!row) return null;
  return {
    userId: row.user_id,
    endpoint: row.endpoint,
    rateLimitRps: row.rate_limit_rps,
    rateBurst: row.rate_burst,
    credentials:
      row.id === null || row.access_key_id === null || row.access_key_secret === null
        ? null
        : toCredentials({
            ...row,
            id: row.id,
            access_key_id: row.access_key_id,
            access_key_secret: row.access_key_secret,
          }),
  };
}

/** One version of an account's credentials, current or retired (an exact replay's); null once deleted. */
export async function findAccountCredentials(db: Database, credentialsId: bigint): Promise<StoredCredentials | null> {
  const { rows } = await db.pool.query<CredentialsRow>({
    name: 'fleet_find_account_credentials',
    text: `SELECT id::text AS id, user_id, access_key_id, access_key_secret, security_token
      FROM account_credentials WHERE id = $1::bigint`,
    values: [String(credentialsId)],
  });
  return rows[0] ? toCredentials(rows[0]) : null;
}

/** The account's own NodeInstall rate limit, calls per second; null without one (or without an account row). */
export async function findAccountRateLimit(db: Database, userId: string): Promise<number | null> {
  const { rows } = await db.pool.query<{ rate_limit_rps: number | null }>({
    name: 'fleet_find_account_rate_limit',
    text: 'SELECT rate_limit_rps FROM account WHERE user_id = $1',
    values: [userId],
  });
  return rows[0]?.rate_limit_rps ?? null;
}
