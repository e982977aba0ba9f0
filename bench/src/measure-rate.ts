/**
 * `--only rate` (issue 24): does an account run at exactly its configured rate? Rollouts bound by
 * ACCOUNT_RATE_LIMIT_RPS (burst 1) on 2 worker processes, at 50, 100, 500 and 5,000 calls a second for one account,
 * 10,000 instances each (200 s of calls at 50/s, 2 s at 5,000), and 20 accounts at 50 each at once (aggregate against
 * 1,000), 750 instances each (15 s of calls). Side by side in the same invocation, the baseline: the same 10,000 instances with the limiter out
 * of the way, which is what this machine can do at all, so a rate above it reads as the machine's bound, not the
 * limiter's.
 *
 * Figures per run: calls per second from the first call's start to the last's (Postgres: each attempt's started_at,
 * its reserved start), against the configured rate; the worst one-second window, both of the starts and of the
 * calls as the simulator saw them arrive (maxPerSecondByUserId), against rate + burst; the simulator's maxInFlight
 * against the rollout's concurrency and the global cap. Nothing is asserted.
 */
import { freePort, scrapeMetrics, sumSamples, worstSecond } from '@fleet/testing';
import { instanceIdsFor } from './baselines/baseline-env.ts';
import { createRollout, prepareSimulator, simStats, waitForEnqueued, waitForRolloutDone } from './clients.ts';
import type { SimStats } from './clients.ts';
import { table } from './report.ts';
import { sleep } from './processes.ts';
import type { BenchStack } from './stack.ts';
import { LATE_START_BUDGET_MS } from '@fleet/limits';
import type { AdaptiveRun } from './measure-rate-adaptive.ts';
import { ADAPTIVE_RUN_KEY, measureAdaptiveRate, renderAdaptiveReport } from './measure-rate-adaptive.ts';

const WORKERS = 2;
const LATENCY_MS = 20;
const BURST = 1;
/** One account's run: 10,000 instances whatever the rate (issue 23). */
const ONE_ACCOUNT_INSTANCES = 10_000;
/** Each account's instances when 20 run at once: 15 s of calls at 50/s. */
const MANY_ACCOUNTS_INSTANCES = 750;
/** A rollout's concurrency, as in the issue's measurements; the 20-account run gives each rollout half of it. */
const CONCURRENCY = 200;
/** Far above what the runs hold (a call waiting for its start holds its slot): the cap must not be what binds. */
const GLOBAL_CAP = 4_000;
/**
 * Warm-up before each measured run, on the same worker processes: this many instances over warmUpAccounts(rate)
 * accounts of their own, at the run's rate each. A worker runs for days, and a rate is a property of one that has run
 * before; a process just started spends its first seconds compiling (V8's optimising compiler was a quarter of the
 * workers' CPU over 14 s from 3 s into a 500/s run, perf, 12-08) and calls slower meanwhile. `--rate-cold` measures
 * without it.
 */
const WARM_UP_INSTANCES = 2_000;
/** Enough accounts that the warm-up goes at a few hundred calls a second whatever the run's rate (ceil(500 / rate)). */
const warmUpAccounts = (rate: number) => Math.min(10, Math.max(1, Math.ceil(500 / rate)));

type RateRunSpec = {
  /** What --rates names it by: the rate, or accounts x rate. */
  key: string;
  label: string;
  ratePerAccount: number;
  accounts: number;
  concurrency: number;
};

const RATE_RUNS: RateRunSpec[] = [
  ...[50, 100, 500, 5_000].map((rate) => ({
    key: String(rate),
    label: `${rate.toLocaleString('en-US')}/s`,
    ratePerAccount: rate,
    accounts: 1,
    concurrency: CONCURRENCY,
  })),
  { key: '20x50', label: '20 accounts x 50/s', ratePerAccount: 50, accounts: 20, concurrency: CONCURRENCY / 2 },
];

type AccountFacts = {
  userId: string;
  calls: number;
  /** (calls - burst) / seconds from the first start to the last: the rate the schedule ran at. */
  achievedRps: number;
  /** Most starts (attempts' started_at) within any 1000 ms. */
  worstSecondStarts: number;
  /** Most arrivals at the simulator within any 1000 ms (its maxPerSecondByUserId). */
  worstSecondArrivals: number;
  /**
   * Starts on the schedule between the first and the last that no call took: the span over the schedule's spacing
   * (LATE_START_BUDGET_MS leaves room at high rates) less the calls after the first.
   */
  unusedStarts: number;
  /** From the POST to the first call's start, and from the last call's start to the rollout completed, ms. */
  firstCallAfterPostMs: number;
  doneAfterLastCallMs: number;
  /** The longest gaps between one start and the next: where in the run (s after the first start) and how long (ms). */
  longestGaps: { atSeconds: number; ms: number }[];
};

type RateRun = RateRunSpec & {
  /** Requests per second configured over all the run's accounts (null: the limiter out of the way). */
  configuredRps: number | null;
  instances: number;
  /** Sum of the accounts' achieved rates (they run at once). */
  achievedRps: number;
  /** From the first POST to the last rollout completed, s; and instances / configured rate, s. */
  seconds: number;
  idealSeconds: number | null;
  accountFacts: AccountFacts[];
  /** The simulator's maxInFlight over all accounts, and the most of one account's (one rollout's). */
  maxInFlight: number;
  maxInFlightOfOneRollout: number;
  globalCap: number;
  throttled: number;
  /** Calls late for their start past what the schedule allows, which took a new one (all workers). */
  retakes: number;
  /** Calls sent past what the schedule allows after their last retake (fleet_call_start_overdue_total). */
  overdue: number;
  /** Calls that reached their start, and how late the workers were for it: mean, and the share later than 10 ms. */
  startsCounted: number;
  meanLatenessMs: number;
  laterThan10Ms: number;
  /**
   * The workers' event loop delay over the run, ms, the worst worker's (prom-client's nodejs_eventloop_lag_p99_seconds
   * and _max_seconds, from perf_hooks' monitorEventLoopDelay since the worker started: the run's one scrape), less the
   * monitor's own 10 ms interval (an idle loop reads 10 ms): how long a timer due waited for the loop, which is what
   * makes calls late for their starts.
   */
  eventLoopDelayP99Ms: number;
  eventLoopDelayMaxMs: number;
  /**
   * Each worker's reading of Postgres's clock at the run's end (fleet_database_clock_offset_seconds and _round_trip_
   * seconds), ms: on one host the true offset is 0, so the spread of the offsets is how far apart the workers'
   * schedules were, which the schedule's one millisecond of slack must cover.
   */
  clockOffsetsMs: number[];
  clockRoundTripsMs: number[];
};

export type RateResult = {
  workers: number;
  latencyMs: number;
  burst: number;
  /** The rollouts were created and enqueued before the workers started (createdFirst), or while they ran. */
  createdFirst: boolean;
  /** Instances the workers ran before each measured run (WARM_UP_INSTANCES), 0 when cold. */
  warmUpInstances: number;
  runs: RateRun[];
  baseline: RateRun;
  /** The adaptive decrease and recovery (measure-rate-adaptive.ts), when it ran. */
  adaptive?: AdaptiveRun;
};

/** prom-client's eventLoopMonitoringPrecision default: monitorEventLoopDelay samples the loop this often, ms. */
const EVENT_LOOP_MONITOR_INTERVAL_MS = 10;

type Stats = SimStats & {
  maxPerSecondByUserId: Record<string, number>;
  maxInFlightByUserId: Record<string, number>;
  throttled: number;
};

/** The schedule's spacing at `rate`, ms, as the limiter's Lua computes it (account-rate-limiter.ts). */
function scheduleIntervalMs(rate: number): number {
  const late = Math.max(1, Math.floor((LATE_START_BUDGET_MS * rate) / 1000));
  return 1000 / (rate + 1 - late);
}

function longestGaps(starts: number[], count: number): { atSeconds: number; ms: number }[] {
  const gaps = starts.slice(1).map((at, i) => ({ atSeconds: (starts[i]! - starts[0]!) / 1000, ms: at - starts[i]! }));
  return gaps.sort((a, b) => b.ms - a.ms).slice(0, count);
}

const accountId = (i: number) => `7${String(i).padStart(15, '0')}`;
const warmUpAccountId = (i: number) => `8${String(i).padStart(15, '0')}`;

async function startTimes(stack: BenchStack, rolloutId: string): Promise<number[]> {
  const { rows } = await stack.db.query<{ started_at: Date }>(
    `SELECT started_at FROM install_attempt WHERE rollout_id = $1::uuid ORDER BY started_at`,
    [rolloutId],
  );
  return rows.map((r) => r.started_at.getTime());
}

/** createRollout, tried again a few times a second apart: on a loaded machine the API may answer 503 for a moment. */
async function createWithRetry(stack: BenchStack, ids: string[], concurrency: number, userId: string) {
  for (let attempt = 1; ; attempt++) {
    try {
      return (await createRollout(stack, ids, concurrency, userId)).id;
    } catch (error) {
      if (attempt >= 3 || !String(error).includes('answered 503')) throw error;
      await sleep(1000);
    }
  }
}

/**
 * Runs WARM_UP_INSTANCES on the workers just started, at `rate` for each of its accounts, and waits until they are
 * done: the measured rollouts then find processes whose code has been compiled, as a worker that has run before.
 */
async function warmUp(stack: BenchStack, rate: number, concurrency: number, tag: string, log: (line: string) => void) {
  const accounts = warmUpAccounts(rate);
  const perAccount = Math.ceil(WARM_UP_INSTANCES / accounts);
  const started = Date.now();
  const ids = await Promise.all(
    Array.from({ length: accounts }, (_, i) =>
      createWithRetry(stack, instanceIdsFor(`${tag}w${i}y`, perAccount), concurrency, warmUpAccountId(i)),
    ),
  );
  for (const id of ids) await waitForRolloutDone(stack, id, ((perAccount / rate) * 5 + 60) * 1000);
  log(`  warm-up: ${accounts} account(s) x ${perAccount} instances, ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

async function runRate(
  stack: BenchStack,
  spec: RateRunSpec,
  limited: boolean,
  createdFirst: boolean,
  warm: boolean,
  log: (line: string) => void,
): Promise<RateRun> {
  const rate = limited ? spec.ratePerAccount : 1_000_000;
  const metricsPorts = await Promise.all(Array.from({ length: WORKERS }, () => freePort()));
  const startWorkers = () =>
    stack.restartWorkers(
      WORKERS,
      {
        ACCOUNT_RATE_LIMIT_RPS: String(rate),
        ACCOUNT_RATE_BURST: String(limited ? BURST : 1_000_000),
        GLOBAL_CONCURRENCY: String(GLOBAL_CAP),
        WORKER_CONCURRENCY: String(spec.concurrency),
      },
      (i) => ({ METRICS_PORT: String(metricsPorts[i]) }),
    );
  // Created first: no worker runs while the API writes and enqueues the rollouts, so the calls' rate is measured
  // without the creation's CPU on the same two cores.
  if (createdFirst) await stack.restartWorkers(0);
  else await startWorkers();
  await prepareSimulator(stack, LATENCY_MS);
  const perAccount = spec.accounts === 1 ? ONE_ACCOUNT_INSTANCES : MANY_ACCOUNTS_INSTANCES;
  const users = spec.accounts === 1 ? [stack.userId] : Array.from({ length: spec.accounts }, (_, i) => accountId(i));
  const tag = `${limited ? 'r' : 'u'}${spec.ratePerAccount}a${spec.accounts}x`;
  const scrapeWorkers = () =>
    Promise.all(metricsPorts.map((port) => scrapeMetrics(`http://127.0.0.1:${port}/metrics`)));
  // The workers' counters as the measured run starts: its figures are what they counted since (the warm-up's not).
  let before: Awaited<ReturnType<typeof scrapeWorkers>> = [];
  if (warm) {
    await warmUp(stack, rate, spec.concurrency, tag, log);
    // The warm-up's calls are not the run's: the simulator counts afresh (its arrivals, its maxInFlight), and this
    // scrape also restarts the workers' event loop delay histograms (prom-client resets them as it reads them).
    await prepareSimulator(stack, LATENCY_MS);
    before = await scrapeWorkers();
  }
  const idealSeconds = limited ? perAccount / spec.ratePerAccount : null;
  const timeoutMs = ((idealSeconds ?? perAccount / 100) * 5 + 60) * 1000;
  log(
    `rate ${limited ? spec.label : 'limiter out of the way'}: ${users.length} account(s) x ${perAccount.toLocaleString('en-US')} instances`,
  );
  let started = Date.now();
  const rollouts = await Promise.all(
    users.map((userId, i) =>
      createWithRetry(stack, instanceIdsFor(`${tag}${i}y`, perAccount), spec.concurrency, userId).then((id) => ({
        userId,
        id,
      })),
    ),
  );
  if (createdFirst) {
    for (const r of rollouts) await waitForEnqueued(stack, r.id, 120_000);
    await startWorkers();
    started = Date.now();
  }
  for (const r of rollouts) await waitForRolloutDone(stack, r.id, timeoutMs);
  const seconds = (Date.now() - started) / 1000;
  const stats = (await simStats(stack)) as Stats;
  const scrapes = await scrapeWorkers();
  const total = (name: string, labels: Record<string, string> = {}) =>
    scrapes.reduce((sum, samples) => sum + sumSamples(samples, name, labels), 0) -
    before.reduce((sum, samples) => sum + sumSamples(samples, name, labels), 0);
  const startsCounted = total('fleet_call_start_lateness_seconds_count');
  const worstWorker = (name: string) =>
    Math.max(0, ...scrapes.map((samples) => sumSamples(samples, name) * 1000 - EVENT_LOOP_MONITOR_INTERVAL_MS));
  const accountFacts: AccountFacts[] = [];
  for (const r of rollouts) {
    const starts = await startTimes(stack, r.id);
    const { rows: finished } = await stack.db.query<{ finished_at: Date }>(
      `SELECT finished_at FROM rollout WHERE id = $1::uuid`,
      [r.id],
    );
    const spanSeconds = ((starts.at(-1) ?? 0) - (starts[0] ?? 0)) / 1000;
    accountFacts.push({
      userId: r.userId,
      calls: starts.length,
      achievedRps: spanSeconds > 0 ? (starts.length - BURST) / spanSeconds : 0,
      worstSecondStarts: worstSecond(starts),
      worstSecondArrivals: stats.maxPerSecondByUserId[r.userId] ?? 0,
      unusedStarts: limited
        ? Math.max(0, Math.round((spanSeconds * 1000) / scheduleIntervalMs(spec.ratePerAccount)) - (starts.length - 1))
        : 0,
      longestGaps: longestGaps(starts, 5),
      firstCallAfterPostMs: Math.max(0, (starts[0] ?? started) - started),
      doneAfterLastCallMs: (finished[0]?.finished_at.getTime() ?? 0) - (starts.at(-1) ?? 0),
    });
  }
  const run: RateRun = {
    ...spec,
    configuredRps: limited ? spec.ratePerAccount * spec.accounts : null,
    instances: perAccount * users.length,
    achievedRps: accountFacts.reduce((sum, a) => sum + a.achievedRps, 0),
    seconds,
    idealSeconds,
    accountFacts,
    maxInFlight: stats.maxInFlight,
    maxInFlightOfOneRollout: Math.max(0, ...users.map((u) => stats.maxInFlightByUserId[u] ?? 0)),
    globalCap: GLOBAL_CAP,
    throttled: stats.throttled,
    retakes: total('fleet_call_start_retakes_total'),
    overdue: total('fleet_call_start_overdue_total'),
    startsCounted,
    meanLatenessMs: startsCounted > 0 ? (total('fleet_call_start_lateness_seconds_sum') * 1000) / startsCounted : 0,
    laterThan10Ms:
      startsCounted > 0 ? 1 - total('fleet_call_start_lateness_seconds_bucket', { le: '0.01' }) / startsCounted : 0,
    eventLoopDelayP99Ms: worstWorker('nodejs_eventloop_lag_p99_seconds'),
    eventLoopDelayMaxMs: worstWorker('nodejs_eventloop_lag_max_seconds'),
    clockOffsetsMs: scrapes.map((samples) => sumSamples(samples, 'fleet_database_clock_offset_seconds') * 1000),
    clockRoundTripsMs: scrapes.map((samples) => sumSamples(samples, 'fleet_database_clock_round_trip_seconds') * 1000),
  };
  log(
    `  ${run.achievedRps.toFixed(1)}/s` +
      (run.configuredRps ? ` (${(run.achievedRps / run.configuredRps).toFixed(3)} of ${run.configuredRps})` : '') +
      `, worst second ${Math.max(...accountFacts.map((a) => a.worstSecondArrivals))} arrivals, maxInFlight ${run.maxInFlight}` +
      `, ${accountFacts.reduce((sum, a) => sum + a.unusedStarts, 0)} starts unused, ${run.retakes} retakes, ${run.overdue} overdue` +
      `, lateness mean ${run.meanLatenessMs.toFixed(2)} ms, ${(run.laterThan10Ms * 100).toFixed(1)}% over 10 ms` +
      `, event loop delay p99 ${run.eventLoopDelayP99Ms.toFixed(1)} ms, max ${run.eventLoopDelayMaxMs.toFixed(1)} ms` +
      `, clock offsets ${run.clockOffsetsMs.map((ms) => ms.toFixed(2)).join(' / ')} ms` +
      ` (round trips ${run.clockRoundTripsMs.map((ms) => ms.toFixed(2)).join(' / ')} ms)` +
      `, longest gaps ${(accountFacts[0]?.longestGaps ?? []).map((g) => `${g.ms.toFixed(0)} ms at ${g.atSeconds.toFixed(1)} s`).join(', ')}`,
  );
  return run;
}

/**
 * `only`: the runs' keys to make (50, 100, 500, 5000, 20x50, adaptive); default all. The baseline is always made.
 */
export async function measureRate(
  stack: BenchStack,
  log: (line: string) => void,
  only?: string[],
  createdFirst = false,
  cold = false,
): Promise<RateResult> {
  // Created first, the workers start after the rollouts are enqueued, so there is no time to warm them.
  const warm = !cold && !createdFirst;
  const keys = [...RATE_RUNS.map((r) => r.key), ADAPTIVE_RUN_KEY];
  const unknown = only?.filter((key) => !keys.includes(key)) ?? [];
  if (unknown.length > 0) throw new Error(`--rates: unknown run "${unknown.join(', ')}" (${keys.join(', ')})`);
  const baseline = await runRate(
    stack,
    { ...RATE_RUNS[3]!, label: 'limiter out of the way' },
    false,
    createdFirst,
    warm,
    log,
  );
  const runs: RateRun[] = [];
  for (const spec of RATE_RUNS)
    if (!only || only.includes(spec.key)) runs.push(await runRate(stack, spec, true, createdFirst, warm, log));
  const adaptive =
    !only || only.includes(ADAPTIVE_RUN_KEY)
      ? await measureAdaptiveRate(
          stack,
          { workers: WORKERS, latencyMs: LATENCY_MS, burst: BURST, globalCap: GLOBAL_CAP },
          log,
        )
      : undefined;
  return {
    workers: WORKERS,
    latencyMs: LATENCY_MS,
    burst: BURST,
    createdFirst,
    warmUpInstances: warm ? WARM_UP_INSTANCES : 0,
    runs,
    baseline,
    ...(adaptive ? { adaptive } : {}),
  };
}

export function renderRateReport(result: RateResult): string {
  const capacity = result.baseline.achievedRps;
  const f3 = (v: number) => v.toFixed(3);
  const rows = result.runs.map((r) => {
    const configured = r.configuredRps!;
    const worstAccount = Math.min(...r.accountFacts.map((a) => a.achievedRps / r.ratePerAccount));
    const limit = r.ratePerAccount + result.burst;
    const worst = (pick: (a: AccountFacts) => number) => `${Math.max(...r.accountFacts.map(pick))} / ${limit}`;
    return [
      r.label,
      r.instances.toLocaleString('en-US'),
      r.achievedRps.toFixed(1),
      f3(r.achievedRps / configured),
      r.accounts > 1 ? f3(worstAccount) : '-',
      f3(r.achievedRps / Math.min(configured, capacity)),
      worst((a) => a.worstSecondStarts),
      worst((a) => a.worstSecondArrivals),
      `${r.seconds.toFixed(1)} / ${r.idealSeconds!.toFixed(1)}`,
      `${Math.max(...r.accountFacts.map((a) => a.firstCallAfterPostMs)).toFixed(0)} / ` +
        `${Math.max(...r.accountFacts.map((a) => a.doneAfterLastCallMs)).toFixed(0)}`,
      `${r.maxInFlightOfOneRollout} / ${r.concurrency}`,
      `${r.maxInFlight} / ${r.globalCap}`,
      String(r.throttled),
      String(r.accountFacts.reduce((sum, a) => sum + a.unusedStarts, 0)),
      `${r.retakes} / ${r.overdue}`,
      `${r.meanLatenessMs.toFixed(2)} / ${(r.laterThan10Ms * 100).toFixed(1)}%`,
      `${r.eventLoopDelayP99Ms.toFixed(1)} / ${r.eventLoopDelayMaxMs.toFixed(1)}`,
    ];
  });
  return [
    `Calls at the account's rate: ${result.workers} worker processes, simulator ${result.latencyMs} ms, ` +
      `ACCOUNT_RATE_BURST ${result.burst}, ` +
      (result.createdFirst
        ? 'rollouts created and enqueued before the workers started (timed from their start)'
        : 'rollouts created while the workers run (timed from the first POST)') +
      ((result.warmUpInstances ?? 0) > 0
        ? `, workers warmed by ${result.warmUpInstances.toLocaleString('en-US')} instances before each run`
        : ', workers cold (just started)'),
    table(
      [
        'configured',
        'instances',
        'calls/s',
        'achieved/configured',
        'worst account',
        'vs min(configured, machine)',
        'worst 1 s starts / limit',
        'worst 1 s arrivals / limit',
        'took / ideal s',
        'POST to first call / last call to done ms',
        'maxInFlight rollout / concurrency',
        'all / cap',
        'throttled',
        'starts unused',
        'retakes / overdue',
        'late mean ms / over 10 ms',
        'event loop delay p99 / max ms',
      ],
      rows,
    ),
    `Baseline, the limiter out of the way: ${result.baseline.instances.toLocaleString('en-US')} instances at ` +
      `${result.baseline.achievedRps.toFixed(0)} calls/s (${result.baseline.seconds.toFixed(1)} s, maxInFlight ` +
      `${result.baseline.maxInFlight} / ${result.baseline.concurrency}): what this machine can do at all.`,
    ...(result.adaptive ? ['', renderAdaptiveReport(result.adaptive)] : []),
  ].join('\n');
}
