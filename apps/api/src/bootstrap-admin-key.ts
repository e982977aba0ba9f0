import type { Database } from '@fleet/db';
import { ensureBootstrapAdminKey, isDatabaseUnavailableError } from '@fleet/db';
import type { Logger } from '@fleet/logger';

/**
 * Stores FLEET_ADMIN_API_KEY (its hash) as an admin key for every account. While Postgres is unreachable it tries
 * again every `retryMs` in the background (the API answers 503 meanwhile anyway) instead of refusing to start.
 * Resolves once stored; rejects on any other error.
 */
export async function storeBootstrapAdminKey(
  db: Database,
  key: string,
  logger: Logger,
  options: { retryMs?: number; signal?: AbortSignal } = {},
): Promise<void> {
  for (;;) {
    try {
      const { record, created } = await ensureBootstrapAdminKey(db, key);
      if (record.revokedAt)
        logger.warn('FLEET_ADMIN_API_KEY was revoked and stays revoked; set a new value to get a working admin key', {
          keyPrefix: record.keyPrefix,
        });
      else
        logger.info(created ? 'bootstrap admin api key stored' : 'bootstrap admin api key present', {
          keyPrefix: record.keyPrefix,
        });
      return;
    } catch (error) {
      if (!isDatabaseUnavailableError(error) || options.signal?.aborted) throw error;
      logger.warn('postgres unavailable, will store the bootstrap admin api key when it is back', {
        error: (error as Error).message,
      });
      await new Promise((resolve) => setTimeout(resolve, options.retryMs ?? 2000).unref());
    }
  }
}
