/**
 * The rounds a side-by-side bench runs to read what a load (stream clients, webhook subscriptions) costs a rollout:
 * each round runs a rollout without the load, with it, and without it again. The two runs without bracket the one
 * with, so that a drift over the round weighs on both sides alike, and their difference is the noise a ratio is read
 * against.
 */
import { sleep } from './processes.ts';

/** What one run must report for its round to be compared. */
type ThroughputRun = { throughput: number };

/** One rollout of a side-by-side bench, without the load (`none`) or with it (`variant`). */
export type LoadRun<Variant extends string> = {
  variant: 'none' | Variant;
  instances: number;
  seconds: number;
  /** Instances a second, from the request to the rollout's finish. */
  throughput: number;
  /** CPU ms per instance by process. */
  cpuMsPerInstance: Record<string, number>;
};

/**
 * One round: `none`, the run with the load under `withKey`, `noneAgain`; `ratio` is the run with the load over the
 * mean of the two without, `noise` how far those two differ (|a - b| / their mean).
 */
type AlternatingRound<Run extends ThroughputRun, K extends string> = { none: Run; noneAgain: Run } & {
  [P in K]: Run;
} & { ratio: number; noise: number };

/** The rounds, and the medians of their ratios and noises. */
export type AlternatingRounds<Run extends ThroughputRun, K extends string> = {
  rounds: AlternatingRound<Run, K>[];
  medianRatio: number;
  medianNoise: number;
};

/** The median of `values` (the lower middle one of an even count); NaN when there are none. */
export const median = (values: number[]) =>
  [...values].sort((a, b) => a - b)[Math.floor((values.length - 1) / 2)] ?? NaN;

/**
 * Runs `rounds` rounds of `runOnce('none')`, `runOnce('with')`, `runOnce('none')`, with a pause of `pauseMs` (default
 * 500) after each run, and answers each round with its ratio and noise, and their medians over the rounds. `step` is
 * the run's place in its round (0, 1, 2), for ids of its own.
 */
export async function runAlternatingRounds<Run extends ThroughputRun, K extends string>(options: {
  rounds: number;
  /** The key of the run with the load in each round (`clients`, `subscriptions`). */
  withKey: K;
  runOnce: (variant: 'none' | 'with', place: { round: number; step: number }) => Promise<Run>;
  pauseMs?: number;
}): Promise<AlternatingRounds<Run, K>> {
  const rounds: AlternatingRound<Run, K>[] = [];
  for (let round = 0; round < options.rounds; round++) {
    const runs: Run[] = [];
    for (const [step, variant] of (['none', 'with', 'none'] as const).entries()) {
      runs.push(await options.runOnce(variant, { round, step }));
      await sleep(options.pauseMs ?? 500);
    }
    const [none, loaded, noneAgain] = runs as [Run, Run, Run];
    const baseline = (none.throughput + noneAgain.throughput) / 2;
    rounds.push({
      none,
      noneAgain,
      ...({ [options.withKey]: loaded } as { [P in K]: Run }),
      ratio: loaded.throughput / baseline,
      noise: Math.abs(none.throughput - noneAgain.throughput) / baseline,
    });
  }
  return {
    rounds,
    medianRatio: median(rounds.map((r) => r.ratio)),
    medianNoise: median(rounds.map((r) => r.noise)),
  };
}
