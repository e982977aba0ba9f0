import type { Database } from './client.ts';

/** The aggregates the reconciler's gauges show, read in one statement of four small aggregates. */
export type MetricsSnapshotRows = {
  /** Rollouts per status. */
  rollouts: Record<string, number>;
  /** Paused rollouts per kind of reason: `fleet_wide_error`, `wave_gate`, `schedule_end` or `operator`. */
  pausedRollouts: Record<string, number>;
  /** Instances per state of each open (running, paused, scheduled or waiting) rollout, from the trigger-kept counts. */
  openRolloutInstances: { rolloutId: string; state: string; count: number }[];
  /** Manual-install flags per status. */
  manualInstallFlags: Record<string, number>;
};

/**
 * A paused rollout's kind of reason, from the cause its latest rollout.paused event holds (`operator`, `wave_gate`,
 * `fleet_wide_error`, `schedule_end`; the events are few per rollout, read backwards on the (rollout_id, id) index). A rollout paused
 * before events were written counts as `operator`.
 */
const PAUSED_BY_CAUSE_SQL = `SELECT 'paused' AS kind, coalesce(e.cause, 'operator') AS key, NULL::text AS sub, count(*)::int AS n
  FROM rollout r LEFT JOIN LATERAL (
    SELECT data->'cause'->>'kind' AS cause FROM fleet_event
    WHERE rollout_id = r.id AND type = 'rollout.paused' ORDER BY id DESC LIMIT 1
  ) e ON true
  WHERE r.status = 'paused' GROUP BY 2`;

/**
 * What the reconciler's metrics show, at a cost that does not grow with rollout size: per-state counts come from
 * rollout_state_count (a few rows per open rollout), never from counting instance rows.
 */
export async function readMetricsSnapshot(db: Database): Promise<MetricsSnapshotRows> {
  // One statement, one round trip: a scrape's cost is mostly round trips, not these few rows.
  const rows = await db.prisma.$queryRawUnsafe<{ kind: string; key: string; sub: string | null; n: number }[]>(
    `SELECT 'rollouts' AS kind, status::text AS key, NULL::text AS sub, count(*)::int AS n FROM rollout GROUP BY status
     UNION ALL
     ${PAUSED_BY_CAUSE_SQL}
     UNION ALL
     SELECT 'instances', c.rollout_id::text, c.state::text, c.n::int FROM rollout_state_count c
       JOIN rollout r ON r.id = c.rollout_id WHERE r.status IN ('running', 'paused', 'scheduled', 'waiting_for_window')
     UNION ALL
     SELECT 'flags', status::text, NULL, count(*)::int FROM manual_install_flag GROUP BY status`,
  );
  const byKey = (kind: string) => Object.fromEntries(rows.filter((r) => r.kind === kind).map((r) => [r.key, r.n]));
  return {
    rollouts: byKey('rollouts'),
    pausedRollouts: byKey('paused'),
    openRolloutInstances: rows
      .filter((r) => r.kind === 'instances')
      .map((r) => ({ rolloutId: r.key, state: r.sub!, count: r.n })),
    manualInstallFlags: byKey('flags'),
  };
}
