import type { Database } from '@fleet/db';
import { findRollout } from '@fleet/db';
import { readPolicy } from '@fleet/rollout-control';
import type { RetryPolicy, RolloutPolicy, RolloutStatus } from '@fleet/rollout-domain';

export type RolloutSettings = {
  id: string;
  userId: string;
  force: boolean;
  status: RolloutStatus;
  concurrency: number;
  waveCount: number;
  retry: RetryPolicy;
  policy: RolloutPolicy;
};

export type RolloutCache = {
  get(rolloutId: string): Promise<RolloutSettings | null>;
  invalidate(rolloutId: string): void;
};

/**
 * Rollout settings read by every job, cached briefly to spare Postgres a read per job. The cache only steers
 * (skip early, pick a policy); the claim in Postgres re-checks the rollout's status before any call is made, so a
 * pause or cancel takes effect at once whatever the cache holds.
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
        const policy = readPolicy(r.policy);
        return {
          id: r.id,
          userId: r.userId,
          force: r.force,
          status: r.status,
          concurrency: r.concurrency,
          waveCount: r.waveCount,
          retry: { ...policy.retry, maxAttempts: r.maxAttempts },
          policy,
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
