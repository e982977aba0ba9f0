import type { CmsClient, CmsClientOptions, CmsCredentials } from '@fleet/cms-client';
import { createCmsClient } from '@fleet/cms-client';
import type { Database, StoredCredentials } from '@fleet/db';
import { accountSecretContext, accountTokenContext, findAccountCalling, findAccountCredentials } from '@fleet/db';
import type { Logger } from '@fleet/logger';
import type { SecretBox } from '@fleet/secrets';
import { SecretUnreadableError } from '@fleet/secrets';
import { AccountUnusableError } from './account-unusable-error.ts';
import type { EndpointAllowlist } from './endpoint-allowlist.ts';
import { endpointRefusal } from './endpoint-allowlist.ts';

/**
 * How a worker (or the reconciler) calls CloudMonitor as an account: with the account's own credentials, endpoint
 * and limits when it has them (the account table), else with the process's own pair, endpoint and limits, as before
 * accounts existed.
 *
 * Each account's settings are read again at most every `refreshMs` (default 1000), so a rotation, a new endpoint or
 * new limits reach every process within about a second, without a restart or a message to miss. A client is made
 * per credentials version and endpoint, its secret opened once, in memory only; a call already holding a client
 * finishes with it (calls in flight keep the key they were signed with). A client nobody asked for in `idleCloseMs`
 * (default 60,000: longer than any call) is closed, which drops its secret: rotated-away credentials leave memory
 * about a minute after their last use.
 */

export type AccountLimits = {
  /** NodeInstall calls per second of the account, across every worker. */
  maxRatePerSecond: number;
  /** Calls it may make at once after a quiet spell. */
  burst: number;
};

export type AccountCalling = {
  userId: string;
  /** The account credentials its calls are signed with (account_credentials.id); null: the process's own pair. */
  credentialsId: bigint | null;
  cms: CmsClient;
  limits: AccountLimits;
};

export type AccountClients = {
  /** How to call as the account now. Throws AccountUnusableError when its calls cannot be made at all. */
  current(userId: string): Promise<AccountCalling>;
  /**
   * The client of the credentials an attempt was signed with (an exact replay), at the account's endpoint; null: the
   * process's own pair. AccountUnusableError (`credentials_gone`) when that version was deleted.
   */
  withCredentials(userId: string, credentialsId: bigint | null): Promise<CmsClient>;
  /** The account's limits as last read (the defaults before the first read): synchronous, for the rate limiter. */
  limitsOf(userId: string): AccountLimits;
  /** Closes every client this made (not `own.client`). */
  close(): Promise<void>;
};

export type AccountClientsDeps = {
  db: Database;
  /** Opens sealed credentials; undefined when FLEET_ENCRYPTION_KEY is unset (accounts with credentials then pause). */
  box: SecretBox | undefined;
  /**
   * The process's own client and the options it was made with (CMS_ENDPOINT, CMS_ACCESS_KEY_*, timeout, method), and
   * its limits (ACCOUNT_RATE_*): an account's client is made with the same options, its endpoint and pair instead.
   */
  own: { client: CmsClient; options: CmsClientOptions; limits: AccountLimits };
  /** Endpoints an account may use (the process's own CMS_ENDPOINT is always allowed). */
  allowlist: EndpointAllowlist;
  /** Makes a client for an endpoint and credentials. Default createCmsClient with `own.options` otherwise. */
  makeClient?(options: { endpoint: string; credentials: CmsCredentials }): CmsClient;
  logger: Logger;
  /** ms an account's settings are used before they are read again. Default 1000. */
  refreshMs?: number;
  /** ms after its last use a client is closed. Default 60,000. */
  idleCloseMs?: number;
  /** Epoch ms. Default Date.now. */
  now?: () => number;
};

type Made = { client: CmsClient; lastUsed: number };

export function createAccountClients(deps: AccountClientsDeps): AccountClients {
  const now = deps.now ?? Date.now;
  const refreshMs = deps.refreshMs ?? 1000;
  const idleCloseMs = deps.idleCloseMs ?? 60_000;
  const settings = new Map<string, { value: Promise<AccountCalling & { clientKey: string }>; expiresAt: number }>();
  const lastGood = new Map<string, AccountCalling & { clientKey: string }>();
  const limits = new Map<string, AccountLimits>();
  const made = new Map<string, Made>();
  const own = {
    client: deps.own.client,
    endpoint: deps.own.options.endpoint,
    credentials: deps.own.options.credentials,
  };
  const makeClient =
    deps.makeClient ??
    ((options: { endpoint: string; credentials: CmsCredentials }) =>
      createCmsClient({ ...deps.own.options, ...options }));

  function openCredentials(credentials: StoredCredentials): CmsCredentials {
    const { userId } = credentials;
    if (!deps.box)
      throw new AccountUnusableError(
        'encryption_key_missing',
        userId,
        `account ${userId} has credentials of its own, but FLEET_ENCRYPTION_KEY is not set in this process`,
      );
    try {
      return {
        accessKeyId: credentials.accessKeyId,
        accessKeySecret: deps.box.open(credentials.accessKeySecret, accountSecretContext(userId)),
        ...(credentials.securityToken !== null
          ? { securityToken: deps.box.open(credentials.securityToken, accountTokenContext(userId)) }
          : {}),
      };
    } catch (error) {
      if (error instanceof SecretUnreadableError)
        throw new AccountUnusableError(
          'secret_unreadable',
          userId,
          `the credentials of account ${userId} open under none of this process's keys (FLEET_ENCRYPTION_KEY, FLEET_ENCRYPTION_PREVIOUS_KEYS)`,
          { cause: error },
        );
      throw error;
    }
  }

  function checkedEndpoint(userId: string, endpoint: string | null): string {
    if (endpoint === null || endpoint === own.endpoint) return own.endpoint;
    const refusal = endpointRefusal(endpoint, deps.allowlist);
    if (refusal !== null)
      throw new AccountUnusableError('endpoint_not_allowed', userId, `the endpoint of account ${userId} ${refusal}`);
    return endpoint;
  }

  /** The client of these credentials (null: the own pair) at this endpoint, made once; and its key in `made`. */
  function clientFor(credentials: StoredCredentials | null, endpoint: string): { client: CmsClient; key: string } {
    const key = `${credentials?.id ?? 'own'}|${endpoint}`;
    if (credentials === null && endpoint === own.endpoint) return { client: own.client, key };
    const existing = made.get(key);
    if (existing) {
      existing.lastUsed = now();
      return { client: existing.client, key };
    }
    const client = makeClient({
      endpoint,
      credentials: credentials === null ? own.credentials : openCredentials(credentials),
    });
    made.set(key, { client, lastUsed: now() });
    return { client, key };
  }

  function closeIdle(): void {
    const cutoff = now() - idleCloseMs;
    for (const [key, entry] of made) {
      if (entry.lastUsed >= cutoff) continue;
      made.delete(key);
      entry.client
        .close()
        .catch((error: unknown) => deps.logger.warn('closing an idle account client failed', { error }));
    }
  }

  async function load(userId: string): Promise<AccountCalling & { clientKey: string }> {
    const record = await findAccountCalling(deps.db, userId);
    const accountLimits: AccountLimits = {
      maxRatePerSecond: record?.rateLimitRps ?? deps.own.limits.maxRatePerSecond,
      burst: record?.rateBurst ?? deps.own.limits.burst,
    };
    limits.set(userId, accountLimits);
    const endpoint = checkedEndpoint(userId, record?.endpoint ?? null);
    const credentials = record?.credentials ?? null;
    const { client, key } = clientFor(credentials, endpoint);
    closeIdle();
    return { userId, credentialsId: credentials?.id ?? null, cms: client, limits: accountLimits, clientKey: key };
  }

  async function currentEntry(userId: string): Promise<AccountCalling & { clientKey: string }> {
    const hit = settings.get(userId);
    const value =
      hit && hit.expiresAt > now()
        ? hit.value
        : (() => {
            const loading = load(userId).then(
              (calling) => (lastGood.set(userId, calling), calling),
              (error: unknown) => {
                const previous = lastGood.get(userId);
                // Postgres away for a moment: go on with what was read last, rather than stop every call of the account.
                if (previous && !(error instanceof AccountUnusableError)) {
                  deps.logger.warn('reading the account failed; using its settings as last read', { userId, error });
                  return previous;
                }
                settings.delete(userId);
                throw error;
              },
            );
            settings.set(userId, { value: loading, expiresAt: now() + refreshMs });
            if (settings.size > 10_000) settings.delete(settings.keys().next().value!);
            return loading;
          })();
    const calling = await value;
    const entry = made.get(calling.clientKey);
    if (entry) entry.lastUsed = now();
    return calling;
  }

  return {
    async current(userId) {
      const entry = await currentEntry(userId);
      return { userId: entry.userId, credentialsId: entry.credentialsId, cms: entry.cms, limits: entry.limits };
    },
    async withCredentials(userId, credentialsId) {
      const calling = await currentEntry(userId);
      if (credentialsId === calling.credentialsId) return calling.cms;
      const endpoint = checkedEndpoint(userId, (await findAccountCalling(deps.db, userId))?.endpoint ?? null);
      if (credentialsId === null) return clientFor(null, endpoint).client;
      const existing = made.get(`${credentialsId}|${endpoint}`);
      if (existing) {
        existing.lastUsed = now();
        return existing.client;
      }
      const stored = await findAccountCredentials(deps.db, credentialsId);
      if (!stored || stored.userId !== userId)
        throw new AccountUnusableError(
          'credentials_gone',
          userId,
          `the credentials ${credentialsId} an attempt of account ${userId} was signed with no longer exist`,
        );
      return clientFor(stored, endpoint).client;
    },
    limitsOf: (userId) => limits.get(userId) ?? deps.own.limits,
    async close() {
      const clients = [...made.values()].map((m) => m.client);
      made.clear();
      settings.clear();
      lastGood.clear();
      await Promise.allSettled(clients.map((c) => c.close()));
    },
  };
}
