import type { Database } from '@fleet/db';
import { findRollout } from '@fleet/db';
import type { RetryPolicy, RolloutStatus } from '@fleet/rollout-domain';
import { DEFAULT_RETRY_POLICY } from '@fleet/rollout-domain';

export type RolloutSettings = {
  id: string;
  userId: string;
  force: boolean;
  status: RolloutStatus;
  concurrency: number;
  retry: RetryPolicy;
};

export type RolloutCache = {
  get(rolloutId: string): Promise<RolloutSettings | null>;
  invalidate(rolloutId: string): void;
};

/**
 * Rollout settings read by every job, cached briefly: a pause or cancel reaches running workers within `ttlMs`
 * without a Postgres read per job.
 */
export function createRolloutCache(db: Database, options: { ttlMs: number; now?: () => number }): RolloutCache {
  const now = options.now ?? Date.now;
  const entries = new Map<string, { value: Promise<RolloutSettings | null>; expiresAt: number }>();
  return {
    get(rolloutId) {
      const hit = entries.get(rolloutId);
      if (hit && hit.expiresAt > now()) return hit.value;
      const value = findRollout(db, rolloutId).then((r) => {
        if (!r) return null;
        const policy = (r.policy ?? {}) as { retry?: Partial<RetryPolicy> };
        return {
          id: r.id,
          userId: r.userId,
          force: r.force,
          status: r.status,
          concurrency: r.concurrency,
          retry: { ...DEFAULT_RETRY_POLICY, ...policy.retry, maxAttempts: r.maxAttempts },
        };
      });
      value.catch(() => entries.delete(rolloutId));
      entries.set(rolloutId, { value, expiresAt: now() + options.ttlMs });
      if (entries.size > 10_000) entries.delete(entries.keys().next().value!);
      return value;
    },
    invalidate(rolloutId) {
      entries.delete(rolloutId);
    },
  };
}
