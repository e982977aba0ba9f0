/**
 * `--rates adaptive` (issue 24: the adaptive decrease on `Throttling*` and the recovery, measured like the rates):
 * one account configured at 100 calls a second whose real quota is lower. For the first 20 s of calls the simulator
 * admits 50 a second of the account and answers `Throttling.User` above (a sliding second, as CloudMonitor's flow
 * control); then the quota is lifted. Figures, from the attempts' `started_at` and error codes and the simulator's
 * counters, against the quota while throttled and against the configured rate after:
 * - while throttled: successful calls a second against the quota (what AIMD keeps of it), the throttled answers,
 *   when the first came; the adapted rate sampled from a worker's `fleet_account_rate_limit_rps` every half second
 *   (its lowest and mean over the phase);
 * - after the lift: how long until a second of starts reaches 0.98 of the configured rate, and the calls a second
 *   over the run's last ten seconds of calls against it;
 * - the whole run: the worst one-second window of starts and of arrivals against rate + burst, and the instances
 *   that failed (throttled answers count against an instance's attempts).
 * Nothing is asserted.
 */
import { freePort, scrapeMetrics, worstSecond } from '@fleet/testing';
import { instanceIdsFor } from './baselines/baseline-env.ts';
import { createRollout, prepareSimulator, simStats, waitForRolloutDone } from './clients.ts';
import type { SimStats } from './clients.ts';
import { sleep } from './processes.ts';
import { table } from './report.ts';
import type { BenchStack } from './stack.ts';

export const ADAPTIVE_RUN_KEY = 'adaptive';

const CONFIGURED_RPS = 100;
const QUOTA_RPS = 50;
const THROTTLED_SECONDS = 20;
const INSTANCES = 6_000;
const CONCURRENCY = 200;
/** The adapted rate is read this often, ms. */
const RATE_SAMPLE_MS = 500;
/** A second of starts counts as recovered at this share of the configured rate. */
const RECOVERED_SHARE = 0.98;
/** The account of this run alone: the other runs' accounts keep adapted rates and schedules of their own. */
const ADAPTIVE_USER_ID = '7999999999999999';

export type AdaptiveRun = {
  configuredRps: number;
  quotaRps: number;
  burst: number;
  throttledSeconds: number;
  instances: number;
  /** From the POST to the rollout's completion, s. */
  seconds: number;
  throttledPhase: {
    /** From the first call's start to the first Throttling.User answer's start, ms; null when none came. */
    firstThrottledAfterMs: number | null;
    successes: number;
    throttledAnswers: number;
    /** Successful calls a second from the first call to the lift, and their share of the quota. */
    successRps: number;
    ofQuota: number;
    /** The adapted rate read during the phase: lowest and mean, requests per second. */
    lowestRateRps: number;
    meanRateRps: number;
  };
  recovery: {
    /** From the lift to the first whole second of starts at 0.98 of the configured rate or more, s; null: never. */
    secondsTo98: number | null;
    /** Calls a second over the last ten seconds of calls, and against the configured rate. */
    lastTenSecondsRps: number;
    ofConfigured: number;
  };
  worstSecondStarts: number;
  worstSecondArrivals: number;
  failedInstances: number;
  /** The adapted rate over the run: seconds from the first call, requests per second. */
  rateSamples: { atSeconds: number; rps: number }[];
};

type Stats = SimStats & { maxPerSecondByUserId: Record<string, number> };

async function setThrottle(stack: BenchStack, qps: number): Promise<void> {
  const res = await fetch(`${stack.simUrl}_sim/scenario`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ throttleQps: qps }),
  });
  if (!res.ok) throw new Error(`POST /_sim/scenario throttleQps ${qps}: ${res.status} ${await res.text()}`);
  await res.arrayBuffer().catch(() => undefined);
}

async function adaptedRate(metricsUrl: string): Promise<number | null> {
  const samples = await scrapeMetrics(metricsUrl).catch(() => []);
  const sample = samples.find(
    (s) => s.name === 'fleet_account_rate_limit_rps' && s.labels['user_id'] === ADAPTIVE_USER_ID,
  );
  return sample?.value ?? null;
}

async function firstCallAt(stack: BenchStack, rolloutId: string, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { rows } = await stack.db.query<{ first: Date | null }>(
      `SELECT min(started_at) AS first FROM install_attempt WHERE rollout_id = $1::uuid`,
      [rolloutId],
    );
    const first = rows[0]?.first;
    if (first) return first.getTime();
    if (Date.now() > deadline) throw new Error(`rollout ${rolloutId}: no call within ${timeoutMs} ms`);
    await sleep(50);
  }
}

export async function measureAdaptiveRate(
  stack: BenchStack,
  settings: { workers: number; latencyMs: number; burst: number; globalCap: number },
  log: (line: string) => void,
): Promise<AdaptiveRun> {
  const metricsPorts = await Promise.all(Array.from({ length: settings.workers }, () => freePort()));
  await stack.restartWorkers(
    settings.workers,
    {
      ACCOUNT_RATE_LIMIT_RPS: String(CONFIGURED_RPS),
      ACCOUNT_RATE_BURST: String(settings.burst),
      GLOBAL_CONCURRENCY: String(settings.globalCap),
      WORKER_CONCURRENCY: String(CONCURRENCY),
    },
    (i) => ({ METRICS_PORT: String(metricsPorts[i]) }),
  );
  await prepareSimulator(stack, settings.latencyMs);
  await setThrottle(stack, QUOTA_RPS);
  log(
    `rate adaptive: ${INSTANCES.toLocaleString('en-US')} instances configured at ${CONFIGURED_RPS}/s, the account's ` +
      `quota ${QUOTA_RPS}/s for the first ${THROTTLED_SECONDS} s of calls, then lifted`,
  );
  const posted = Date.now();
  const { id } = await createRollout(stack, instanceIdsFor('adaptive', INSTANCES), CONCURRENCY, ADAPTIVE_USER_ID);
  const first = await firstCallAt(stack, id, 60_000);
  const samples: { at: number; rps: number }[] = [];
  let sampling = true;
  const sampler = (async () => {
    const url = `http://127.0.0.1:${metricsPorts[0]}/metrics`;
    while (sampling) {
      const rps = await adaptedRate(url);
      if (rps !== null) samples.push({ at: Date.now(), rps });
      await sleep(RATE_SAMPLE_MS);
    }
  })();
  await sleep(Math.max(0, first + THROTTLED_SECONDS * 1000 - Date.now()));
  await setThrottle(stack, 0);
  const liftedAt = Date.now();
  await waitForRolloutDone(stack, id, 600_000);
  const seconds = (Date.now() - posted) / 1000;
  sampling = false;
  await sampler;

  const stats = (await simStats(stack)) as Stats;
  const { rows } = await stack.db.query<{ started_at: Date; error_code: string | null; success: boolean | null }>(
    `SELECT started_at, error_code, success FROM install_attempt WHERE rollout_id = $1::uuid ORDER BY started_at`,
    [id],
  );
  const { rows: failed } = await stack.db.query<{ n: string }>(
    `SELECT count(*) AS n FROM rollout_instance WHERE rollout_id = $1::uuid AND state::text <> 'succeeded'`,
    [id],
  );
  const starts = rows.map((r) => r.started_at.getTime());
  const during = rows.filter((r) => r.started_at.getTime() < liftedAt);
  const throttled = during.filter((r) => r.error_code?.startsWith('Throttling') ?? false);
  const successes = during.filter((r) => r.success === true).length;
  const phaseSeconds = (liftedAt - first) / 1000;
  const phaseRates = samples.filter((s) => s.at < liftedAt).map((s) => s.rps);

  // Whole seconds of starts after the lift: the first at 0.98 of the configured rate.
  const afterLift = starts.filter((t) => t >= liftedAt);
  let secondsTo98: number | null = null;
  for (let s = 0; liftedAt + (s + 1) * 1000 <= (afterLift.at(-1) ?? 0); s++) {
    const inSecond = afterLift.filter((t) => t >= liftedAt + s * 1000 && t < liftedAt + (s + 1) * 1000).length;
    if (inSecond >= RECOVERED_SHARE * CONFIGURED_RPS) {
      secondsTo98 = s + 1;
      break;
    }
  }
  const last = starts.at(-1) ?? 0;
  const lastTen = starts.filter((t) => t > last - 10_000);
  const lastTenSecondsRps = lastTen.length > 1 ? (lastTen.length - 1) / ((last - lastTen[0]!) / 1000) : 0;

  const run: AdaptiveRun = {
    configuredRps: CONFIGURED_RPS,
    quotaRps: QUOTA_RPS,
    burst: settings.burst,
    throttledSeconds: THROTTLED_SECONDS,
    instances: INSTANCES,
    seconds,
    throttledPhase: {
      firstThrottledAfterMs: throttled[0] ? throttled[0].started_at.getTime() - first : null,
      successes,
      throttledAnswers: throttled.length,
      successRps: successes / phaseSeconds,
      ofQuota: successes / phaseSeconds / QUOTA_RPS,
      lowestRateRps: phaseRates.length > 0 ? Math.min(...phaseRates) : CONFIGURED_RPS,
      meanRateRps: phaseRates.length > 0 ? phaseRates.reduce((a, b) => a + b, 0) / phaseRates.length : CONFIGURED_RPS,
    },
    recovery: { secondsTo98, lastTenSecondsRps, ofConfigured: lastTenSecondsRps / CONFIGURED_RPS },
    worstSecondStarts: worstSecond(starts),
    worstSecondArrivals: stats.maxPerSecondByUserId[ADAPTIVE_USER_ID] ?? 0,
    failedInstances: Number(failed[0]?.n ?? 0),
    rateSamples: samples.map((s) => ({ atSeconds: (s.at - first) / 1000, rps: s.rps })),
  };
  log(
    `  throttled ${THROTTLED_SECONDS} s: ${run.throttledPhase.successRps.toFixed(1)} successes/s ` +
      `(${run.throttledPhase.ofQuota.toFixed(3)} of the quota), ${throttled.length} Throttling answers, the first ` +
      `${run.throttledPhase.firstThrottledAfterMs ?? '-'} ms in, adapted rate lowest ${run.throttledPhase.lowestRateRps.toFixed(1)} ` +
      `mean ${run.throttledPhase.meanRateRps.toFixed(1)}; lifted: ${secondsTo98 ?? 'never'} s to ${RECOVERED_SHARE} of ` +
      `${CONFIGURED_RPS}/s, last 10 s ${lastTenSecondsRps.toFixed(1)}/s; worst second ${run.worstSecondStarts} starts, ` +
      `${run.worstSecondArrivals} arrivals; ${run.failedInstances} instances not succeeded`,
  );
  return run;
}

export function renderAdaptiveReport(run: AdaptiveRun): string {
  const p = run.throttledPhase;
  const limit = run.configuredRps + run.burst;
  return [
    `The adaptive rate: configured ${run.configuredRps}/s, the account's quota ${run.quotaRps}/s for the first ` +
      `${run.throttledSeconds} s of calls, then lifted; ${run.instances.toLocaleString('en-US')} instances in ` +
      `${run.seconds.toFixed(1)} s`,
    table(
      [
        'successes/s throttled / quota',
        'of the quota',
        'Throttling answers',
        'first after ms',
        'adapted rate lowest / mean',
        `s to ${RECOVERED_SHARE} of ${run.configuredRps}/s after the lift`,
        'last 10 s calls/s',
        'of configured',
        'worst 1 s starts / arrivals / limit',
        'instances not succeeded',
      ],
      [
        [
          `${p.successRps.toFixed(1)} / ${run.quotaRps}`,
          p.ofQuota.toFixed(3),
          String(p.throttledAnswers),
          String(p.firstThrottledAfterMs ?? '-'),
          `${p.lowestRateRps.toFixed(1)} / ${p.meanRateRps.toFixed(1)}`,
          String(run.recovery.secondsTo98 ?? 'never'),
          run.recovery.lastTenSecondsRps.toFixed(1),
          run.recovery.ofConfigured.toFixed(3),
          `${run.worstSecondStarts} / ${run.worstSecondArrivals} / ${limit}`,
          String(run.failedInstances),
        ],
      ],
    ),
    `Adapted rate (s from the first call: rps): ${run.rateSamples
      .filter((_, i) => i % 4 === 0)
      .map((s) => `${s.atSeconds.toFixed(0)}: ${s.rps.toFixed(0)}`)
      .join(', ')}`,
  ].join('\n');
}
