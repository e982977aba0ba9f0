import { Counter, Gauge, Histogram } from 'prom-client';
import type { MetricsRegistry } from './registry.ts';

/** What a NodeInstall attempt row's `outcome` says (the cms-client's attemptOutcomeClass). */
export type InstallCallOutcome = 'success' | 'retryable' | 'final';
/** The final states a worker moves an instance to. */
export type FinishedInstanceState = 'succeeded' | 'failed' | 'cancelled' | 'skipped';

export type WorkerMetricsSources = {
  /** An account's adapted rate now, requests per second (@fleet/limits AccountRateLimiter.currentRate). */
  accountRate(userId: string): Promise<number>;
  /** NodeInstall calls in flight over every worker (@fleet/limits GlobalConcurrency.inFlight). */
  globalSlotsInUse(): Promise<number>;
  /**
   * The process's reading of Postgres's clock, which the account's call schedule runs on (@fleet/db
   * DatabaseClock.measured): the offset added to this host's clock, and the round trip it was measured over, ms;
   * null before the first measurement. Omitted: the two gauges are not shown.
   */
  databaseClock?: () => { offsetMs: number; roundTripMs: number } | null;
};

/**
 * What the install path reports. Counters count what this process did; the two gauges read the limits in Redis when
 * scraped, so every worker shows the same fleet-wide value (aggregate them with max, not sum).
 */
export type WorkerMetrics = {
  /**
   * One NodeInstall call whose answer was recorded on its attempt row: its outcome class, whether CloudMonitor
   * throttled it, and how long it took in ms.
   */
  callRecorded(call: { userId: string; outcome: InstallCallOutcome; throttled: boolean; durationMs: number }): void;
  /** An instance this process moved to a final state. */
  instanceFinished(state: FinishedInstanceState): void;
  /** One group-commit batch of the install path's writes went to Postgres with this many writes. */
  writeBatch(size: number): void;
  /**
   * A call reached its reserved start: how late after it the worker was ready to send it, ms, and whether that was
   * later than the schedule allows, so the call took a new start (a retake: the old start's share of the account's
   * quota goes unused), or sent however late because it had taken new starts MAX_START_RETAKES times (`overdue`).
   */
  callStarted(start: { lateMs: number; retaken: boolean; overdue: boolean }): void;
};

/** Accounts whose rate gauge is shown: those with a call recorded within this long, in ms. */
const ACCOUNT_SHOWN_FOR_MS = 3_600_000;

export function createWorkerMetrics(registry: MetricsRegistry, sources: WorkerMetricsSources): WorkerMetrics {
  const registers = [registry];
  /** user_id -> when this process last recorded a call of the account (ms since the epoch). */
  const accounts = new Map<string, number>();
  const calls = new Counter({
    name: 'fleet_install_calls_total',
    help: 'NodeInstall calls whose answer was recorded, by outcome class (success, retryable, final)',
    labelNames: ['outcome'] as const,
    registers,
  });
  const callDuration = new Histogram({
    name: 'fleet_install_call_duration_seconds',
    help: 'Duration of recorded NodeInstall calls, from sending the request to its answer',
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers,
  });
  const finished = new Counter({
    name: 'fleet_instances_finished_total',
    help: 'Instances this worker moved to a final state, by state',
    labelNames: ['state'] as const,
    registers,
  });
  const throttled = new Counter({
    name: 'fleet_throttled_total',
    help: 'NodeInstall calls CloudMonitor answered with Throttling, by account',
    labelNames: ['user_id'] as const,
    registers,
  });
  const batchSize = new Histogram({
    name: 'fleet_write_batch_size',
    help: 'Writes (claims and answers) per group-commit statement of the install path',
    buckets: [1, 2, 5, 10, 20, 50, 100, 200],
    registers,
  });
  const startLateness = new Histogram({
    name: 'fleet_call_start_lateness_seconds',
    help: 'How late after its reserved start on the account schedule a NodeInstall call was ready to be sent',
    buckets: [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1],
    registers,
  });
  const startRetakes = new Counter({
    name: 'fleet_call_start_retakes_total',
    help: 'NodeInstall calls later for their reserved start than the schedule allows, which took a new start',
    registers,
  });
  const startsOverdue = new Counter({
    name: 'fleet_call_start_overdue_total',
    help:
      'NodeInstall calls sent later for their start than the schedule allows, after taking new starts as many times ' +
      'as a call may: each can make a second with one call more than the account rate plus burst',
    registers,
  });
  new Gauge({
    name: 'fleet_account_rate_limit_rps',
    help: "An account's adapted NodeInstall rate now, requests per second (the same in every worker)",
    labelNames: ['user_id'] as const,
    registers,
    async collect() {
      const now = Date.now();
      for (const [userId, at] of accounts) if (now - at > ACCOUNT_SHOWN_FOR_MS) accounts.delete(userId);
      const ids = [...accounts.keys()];
      const rates = await Promise.all(ids.map((id) => sources.accountRate(id)));
      this.reset();
      ids.forEach((id, i) => this.set({ user_id: id }, rates[i]!));
    },
  });
  new Gauge({
    name: 'fleet_global_slots_in_use',
    help: 'NodeInstall calls in flight over every worker process (global concurrency slots held)',
    registers,
    async collect() {
      this.set(await sources.globalSlotsInUse());
    },
  });
  const clock = sources.databaseClock;
  /** A gauge of one side of the clock's last measurement, in seconds; unset before the first. */
  const clockGauge = (name: string, help: string, ms: (m: { offsetMs: number; roundTripMs: number }) => number) =>
    new Gauge({
      name,
      help,
      registers,
      collect() {
        const measured = clock?.();
        if (measured) this.set(ms(measured) / 1000);
      },
    });
  if (clock) {
    clockGauge(
      'fleet_database_clock_offset_seconds',
      "Offset this process adds to its host's clock to read Postgres's, on which the account call schedule runs " +
        '(last measurement; processes on one host should agree to within their round trips)',
      (m) => m.offsetMs,
    );
    clockGauge(
      'fleet_database_clock_round_trip_seconds',
      'Round trip the clock offset was measured over: half of it bounds the offset error, and two workers whose ' +
        'errors add up past the schedule slack can put one call more than the account rate plus burst into a second',
      (m) => m.roundTripMs,
    );
  }
  startRetakes.inc(0);
  for (const outcome of ['success', 'retryable', 'final'] as const) calls.inc({ outcome }, 0);
  for (const state of ['succeeded', 'failed', 'cancelled', 'skipped'] as const) finished.inc({ state }, 0);

  return {
    callRecorded(call) {
      calls.inc({ outcome: call.outcome });
      callDuration.observe(call.durationMs / 1000);
      accounts.set(call.userId, Date.now());
      if (call.throttled) throttled.inc({ user_id: call.userId });
    },
    instanceFinished(state) {
      finished.inc({ state });
    },
    writeBatch(size) {
      batchSize.observe(size);
    },
    callStarted(start) {
      startLateness.observe(Math.max(0, start.lateMs) / 1000);
      if (start.retaken) startRetakes.inc();
      if (start.overdue) startsOverdue.inc();
    },
  };
}
