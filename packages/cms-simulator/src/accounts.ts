import { FleetError } from '@fleet/errors';

/**
 * The AccessKey pairs the simulator knows beyond its built-in ones, each owned by one Alibaba account (UserId), as
 * Alibaba's gateway knows them: a RAM user's key acts for its own account only, an STS key only with its token and
 * until the token expires, and each account has its own API quota. Defined at start (`accounts` option,
 * SIM_ACCOUNTS) and while running (`POST /_sim/accounts`); a pair defined again with the same AccessKeyId replaces
 * the earlier one. The built-in pairs (`accessKeys` option) belong to no account: they may act for any UserId and
 * carry any token, as the simulator always allowed.
 */

export type SimAccount = {
  accessKeyId: string;
  accessKeySecret: string;
  /** The account UID that owns the key: a call naming another UserId is refused with `Forbidden.NotAuthorized`. */
  userId: string;
  /** STS token the key must be used with (`InvalidSecurityToken.*` otherwise). Absent: a permanent key. */
  securityToken?: string;
  /** When the token stops being accepted (`InvalidSecurityToken.Expired`), epoch ms. Absent: never. */
  tokenExpiresAt?: number;
  /** Admitted requests per second of the owning account before `Throttling.User`; absent: the scenario's throttleQps. */
  qps?: number;
};

/** What `GET /_sim/accounts` shows of an account's key: never its secret or its token. */
export type SimAccountView = {
  accessKeyId: string;
  userId: string;
  hasSecurityToken: boolean;
  tokenExpiresAt: string | null;
  qps: number | null;
};

export class SimAccountsError extends FleetError {
  constructor(message: string) {
    super('sim_accounts_invalid', message);
    this.name = 'SimAccountsError';
  }
}

export type AccountRegistry = {
  /** AccessKeyId -> AccessKeySecret of every pair the gateway accepts, built-in and accounts' alike; kept current. */
  readonly secrets: ReadonlyMap<string, string>;
  /** Adds or replaces these pairs (by AccessKeyId). */
  define(accounts: readonly SimAccount[]): void;
  /** The account a key belongs to; undefined for a built-in pair (or an unknown key). */
  accountOf(accessKeyId: string): SimAccount | undefined;
  /** The account's own quota: the qps of a key it owns (the latest defined), undefined when none says. */
  qpsOf(userId: string): number | undefined;
  list(): SimAccountView[];
};

export function createAccountRegistry(
  builtIn: Readonly<Record<string, string>>,
  initial: readonly SimAccount[] = [],
): AccountRegistry {
  const secrets = new Map(Object.entries(builtIn));
  const accounts = new Map<string, SimAccount>();
  const registry: AccountRegistry = {
    secrets,
    define(list) {
      for (const account of list) {
        // Deleted first, so that the map's order is the order of definition (qpsOf takes the latest).
        accounts.delete(account.accessKeyId);
        accounts.set(account.accessKeyId, account);
        secrets.set(account.accessKeyId, account.accessKeySecret);
      }
    },
    accountOf: (accessKeyId) => accounts.get(accessKeyId),
    qpsOf(userId) {
      // A handful of keys: a scan per request costs less than keeping an index right through replacements.
      let qps: number | undefined;
      for (const account of accounts.values())
        if (account.userId === userId && account.qps !== undefined) qps = account.qps;
      return qps;
    },
    list: () =>
      [...accounts.values()].map((a) => ({
        accessKeyId: a.accessKeyId,
        userId: a.userId,
        hasSecurityToken: a.securityToken !== undefined,
        tokenExpiresAt: a.tokenExpiresAt === undefined ? null : new Date(a.tokenExpiresAt).toISOString(),
        qps: a.qps ?? null,
      })),
  };
  registry.define(initial);
  return registry;
}

const FIELDS = new Set(['accessKeyId', 'accessKeySecret', 'userId', 'securityToken', 'tokenExpiresAt', 'qps']);
const USER_ID = /^\d{1,32}$/;

function text(entry: Record<string, unknown>, field: string, where: string, optional = false): string | undefined {
  const value = entry[field];
  if (value === undefined && optional) return undefined;
  if (typeof value !== 'string' || value.length === 0 || value.length > 1024)
    throw new SimAccountsError(`${where}.${field} must be a non-empty string of at most 1024 characters`);
  return value;
}

function expiry(value: unknown, where: string): number | undefined {
  if (value === undefined) return undefined;
  const ms = typeof value === 'number' ? value : typeof value === 'string' ? Date.parse(value) : Number.NaN;
  if (!Number.isFinite(ms))
    throw new SimAccountsError(`${where}.tokenExpiresAt must be an ISO 8601 time or epoch milliseconds`);
  return ms;
}

/**
 * Accounts as given in SIM_ACCOUNTS or a `POST /_sim/accounts` body: a JSON array of `{ accessKeyId,
 * accessKeySecret, userId, securityToken?, tokenExpiresAt?, qps? }` (a single object counts as a list of one). Throws
 * SimAccountsError naming the entry and field at fault, and never repeating a secret.
 */
export function parseSimAccounts(value: unknown): SimAccount[] {
  const list = Array.isArray(value) ? value : [value];
  return list.map((entry: unknown, index): SimAccount => {
    const where = `accounts[${index}]`;
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry))
      throw new SimAccountsError(`${where} must be an object`);
    const record = entry as Record<string, unknown>;
    const unknown = Object.keys(record).find((key) => !FIELDS.has(key));
    if (unknown !== undefined) throw new SimAccountsError(`${where}.${unknown} is not a known field`);
    const userId = text(record, 'userId', where)!;
    if (!USER_ID.test(userId)) throw new SimAccountsError(`${where}.userId must be 1 to 32 digits`);
    const qps = record.qps;
    if (qps !== undefined && (typeof qps !== 'number' || !Number.isInteger(qps) || qps < 0))
      throw new SimAccountsError(`${where}.qps must be a whole number >= 0`);
    const securityToken = text(record, 'securityToken', where, true);
    const tokenExpiresAt = expiry(record.tokenExpiresAt, where);
    return {
      accessKeyId: text(record, 'accessKeyId', where)!,
      accessKeySecret: text(record, 'accessKeySecret', where)!,
      userId,
      ...(securityToken !== undefined ? { securityToken } : {}),
      ...(tokenExpiresAt !== undefined ? { tokenExpiresAt } : {}),
      ...(qps !== undefined ? { qps } : {}),
    };
  });
}
