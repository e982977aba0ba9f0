import { Counter, Gauge } from 'prom-client';
import type { MetricsRegistry } from './registry.ts';

/** What the reconciler's gauges show, read when Prometheus scrapes (one read serves every gauge of a scrape). */
export type ReconcilerSnapshot = {
  /** Rollouts per status (running, paused, completed, cancelled). */
  rollouts: Record<string, number>;
  /** Paused rollouts per kind of reason (operator, wave_gate, fleet_wide_error, schedule_end). */
  pausedRollouts: Record<string, number>;
  /** Instances per state of every open (running or paused) rollout. */
  openRolloutInstances: { rolloutId: string; state: string; count: number }[];
  /** Jobs in Redis per BullMQ state, summed over the open rollouts' queues. */
  queueJobs: Record<string, number>;
  /** Manual-install flags per status. */
  manualInstallFlags: Record<string, number>;
};

export type ReconcilerMetrics = {
  /**
   * A reconcile pass ended: whether this replica held the lease, and how many things it repaired, by kind (a kind
   * with 0 is shown too, so that `increase()` sees the series from its first repair on).
   */
  passFinished(pass: { leader: boolean; repairs: Record<string, number> }): void;
};

/**
 * The reconciler's metrics. The gauges are computed at scrape time (collect) from a few aggregate queries rather
 * than updated each pass: a pass runs every RECONCILE_INTERVAL_MS (10 s) and only on the leader, while a scrape
 * should show the state now on every replica. They are fleet-wide figures, the same on every replica: aggregate with
 * max, not sum. `fleet_reconciler_leader` is this replica's own (1 while its last pass held the lease).
 */
export function createReconcilerMetrics(
  registry: MetricsRegistry,
  sources: { snapshot(): Promise<ReconcilerSnapshot> },
): ReconcilerMetrics {
  const registers = [registry];
  // Every gauge of one scrape awaits the same read (prom-client collects all metrics of a scrape concurrently).
  let reading: Promise<ReconcilerSnapshot> | null = null;
  const snapshot = () => {
    reading ??= sources.snapshot().finally(() => {
      reading = null;
    });
    return reading;
  };
  const byLabel = (gauge: Gauge<string>, label: string, values: Record<string, number>) => {
    gauge.reset();
    for (const [value, count] of Object.entries(values)) gauge.set({ [label]: value }, count);
  };
  new Gauge({
    name: 'fleet_rollouts',
    help: 'Rollouts per status',
    labelNames: ['status'] as const,
    registers,
    async collect() {
      byLabel(this, 'status', (await snapshot()).rollouts);
    },
  });
  new Gauge({
    name: 'fleet_rollouts_paused',
    help: 'Paused rollouts per kind of reason (operator, wave_gate, fleet_wide_error, schedule_end)',
    labelNames: ['reason'] as const,
    registers,
    async collect() {
      byLabel(this, 'reason', (await snapshot()).pausedRollouts);
    },
  });
  new Gauge({
    name: 'fleet_rollout_instances',
    help: 'Instances per state of each open (running, paused, scheduled or waiting_for_window) rollout',
    labelNames: ['rollout_id', 'state'] as const,
    registers,
    async collect() {
      const rows = (await snapshot()).openRolloutInstances;
      this.reset();
      for (const row of rows) this.set({ rollout_id: row.rolloutId, state: row.state }, row.count);
    },
  });
  new Gauge({
    name: 'fleet_queue_jobs',
    help: "Install jobs in Redis per BullMQ state, over every open rollout's queue",
    labelNames: ['state'] as const,
    registers,
    async collect() {
      byLabel(this, 'state', (await snapshot()).queueJobs);
    },
  });
  new Gauge({
    name: 'fleet_manual_install_flags',
    help: 'Manual-install flags per status',
    labelNames: ['status'] as const,
    registers,
    async collect() {
      byLabel(this, 'status', (await snapshot()).manualInstallFlags);
    },
  });
  const leader = new Gauge({
    name: 'fleet_reconciler_leader',
    help: "1 while this reconciler replica's last pass held the leader lease, else 0",
    registers,
  });
  leader.set(0);
  const repairs = new Counter({
    name: 'fleet_reconciler_repairs_total',
    help: 'Repairs the reconciler made, by kind',
    labelNames: ['kind'] as const,
    registers,
  });

  return {
    passFinished(pass) {
      leader.set(pass.leader ? 1 : 0);
      for (const [kind, count] of Object.entries(pass.repairs)) repairs.inc({ kind }, count);
    },
  };
}
