import type { InstanceCounts, RolloutSummary } from '@fleet/api-client';

/** The rollouts table's sort keys (`?sort=` in the URL); `created` is the API's own order, newest first. */
export const SORT_KEYS = ['created', 'status', 'progress', 'account'] as const;
export type SortKey = (typeof SORT_KEYS)[number];

/** Open rollouts first when sorted by status descending: what needs attention is on top. */
const STATUS_RANK: Record<string, number> = {
  running: 5,
  waiting_for_window: 4,
  paused: 3,
  scheduled: 2,
  cancelled: 1,
  completed: 0,
};

/** Instances in a final state (skipped: left out by the pre-check, as the API counts them done). */
export function doneOf(counts: InstanceCounts): number {
  return counts.succeeded + counts.failed + counts.cancelled + (counts.skipped ?? 0);
}

/** Completed or cancelled: nothing will change any more. */
export function isFinished(status: string): boolean {
  return status === 'completed' || status === 'cancelled';
}

function fraction(rollout: RolloutSummary): number {
  return rollout.counts.total === 0 ? 0 : doneOf(rollout.counts) / rollout.counts.total;
}

/** Ascending order of `key`; ties by creation time, so the order is stable while the table refreshes. */
export function compareRollouts(a: RolloutSummary, b: RolloutSummary, key: SortKey): number {
  const byCreated = a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id);
  switch (key) {
    case 'created':
      return byCreated;
    case 'status':
      return (STATUS_RANK[a.status] ?? 0) - (STATUS_RANK[b.status] ?? 0) || byCreated;
    case 'progress':
      return fraction(a) - fraction(b) || byCreated;
    case 'account':
      return a.userId.localeCompare(b.userId) || byCreated;
  }
}
