import type { Database } from './client.ts';

/** The aggregates the reconciler's gauges show, read in one round trip of four small queries. */
export type MetricsSnapshotRows = {
  /** Rollouts per status. */
  rollouts: Record<string, number>;
  /** Paused rollouts per kind of reason: `fleet_wide_error`, `wave_gate` or `operator`. */
  pausedRollouts: Record<string, number>;
  /** Instances per state of each open (running or paused) rollout, from the trigger-kept counts. */
  openRolloutInstances: { rolloutId: string; state: string; count: number }[];
  /** Manual-install flags per status. */
  manualInstallFlags: Record<string, number>;
};

/**
 * The pause reason's kind, from the reason the pause wrote (status_reason is free text): the worker's fleet-wide pause
 * writes `fleet-wide error <code>: ...` (rollout-domain attempt-decision.ts), a wave gate `wave <n> success rate ...`
 * (policy.ts), and anything else is an operator's own.
 */
const PAUSE_KIND_SQL = `CASE WHEN status_reason LIKE 'fleet-wide error %' THEN 'fleet_wide_error'
  WHEN status_reason ~ '^wave [0-9]+ success rate ' THEN 'wave_gate' ELSE 'operator' END`;

/**
 * What the reconciler's metrics show, at a cost that does not grow with rollout size: per-state counts come from
 * rollout_state_count (a few rows per open rollout), never from counting instance rows.
 */
export async function readMetricsSnapshot(db: Database): Promise<MetricsSnapshotRows> {
  const [statuses, paused, instances, flags] = await Promise.all([
    db.prisma.$queryRawUnsafe<{ key: string; n: number }[]>(
      `SELECT status::text AS key, count(*)::int AS n FROM rollout GROUP BY status`,
    ),
    db.prisma.$queryRawUnsafe<{ key: string; n: number }[]>(
      `SELECT ${PAUSE_KIND_SQL} AS key, count(*)::int AS n FROM rollout WHERE status = 'paused' GROUP BY 1`,
    ),
    db.prisma.$queryRawUnsafe<{ rollout_id: string; state: string; n: number }[]>(
      `SELECT c.rollout_id::text, c.state::text, c.n::int FROM rollout_state_count c
       JOIN rollout r ON r.id = c.rollout_id WHERE r.status IN ('running', 'paused')`,
    ),
    db.prisma.$queryRawUnsafe<{ key: string; n: number }[]>(
      `SELECT status::text AS key, count(*)::int AS n FROM manual_install_flag GROUP BY status`,
    ),
  ]);
  const byKey = (rows: { key: string; n: number }[]) => Object.fromEntries(rows.map((r) => [r.key, r.n]));
  return {
    rollouts: byKey(statuses),
    pausedRollouts: byKey(paused),
    openRolloutInstances: instances.map((r) => ({ rolloutId: r.rollout_id, state: r.state, count: r.n })),
    manualInstallFlags: byKey(flags),
  };
}
