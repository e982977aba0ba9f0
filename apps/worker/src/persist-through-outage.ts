import pRetry from 'p-retry';
import { isDatabaseUnavailableError } from '@fleet/db';
import type { Logger } from '@fleet/logger';

/**
 * Tries after the first that Postgres is unavailable, with exponential backoff and jitter from PERSIST_MIN_DELAY_MS
 * to PERSIST_MAX_DELAY_MS: 30 to 60 s in all, longer than a Postgres restart or a failover takes. Past that the job
 * fails and BullMQ's own attempts take over.
 */
const PERSIST_RETRIES = 10;
const PERSIST_MIN_DELAY_MS = 200;
const PERSIST_MAX_DELAY_MS = 5_000;

/**
 * Runs a write of the install path, riding out a Postgres outage: while we hold a real call's answer, trying to
 * record it beats losing it. Only "Postgres unavailable" is retried; any other error is thrown at once. The first try
 * is a plain call: p-retry's bookkeeping on every write of every job is measurable CPU at thousands a second.
 */
export async function persistThroughOutage<T>(what: string, log: Logger, write: () => Promise<T>): Promise<T> {
  try {
    return await write();
  } catch (error) {
    if (!isDatabaseUnavailableError(error)) throw error;
    log.warn(`postgres unavailable while ${what}, retrying`, { attemptNumber: 1, error: (error as Error).message });
  }
  return pRetry(write, {
    retries: PERSIST_RETRIES,
    minTimeout: PERSIST_MIN_DELAY_MS,
    maxTimeout: PERSIST_MAX_DELAY_MS,
    randomize: true,
    shouldRetry: ({ error }) => isDatabaseUnavailableError(error),
    onFailedAttempt: ({ error, attemptNumber }) => {
      if (isDatabaseUnavailableError(error))
        log.warn(`postgres unavailable while ${what}, retrying`, {
          attemptNumber: attemptNumber + 1,
          error: error.message,
        });
    },
  });
}
