/**
 * How long a planned rollout should take, for a dry run: from its waves, its concurrency, the global cap, the
 * account's rate and how long one call takes. Pure.
 *
 * A wave runs `min(concurrency, globalConcurrency, size)` calls at once; each takes `callLatencyMs`, so it finishes
 * `inFlight * 1000 / callLatencyMs` instances a second unless the account's rate is lower; the next wave starts
 * when it is done. First attempts only: retries, install verification and waves held for a person are not counted.
 */

export type EstimateInput = {
  /** Instances per wave, in order. */
  waveSizes: readonly number[];
  /** Most calls in flight for the rollout (resolved from a count or a share). */
  concurrency: number;
  /** Most calls in flight over every rollout; null when unknown (no worker published it). */
  globalConcurrency: number | null;
  /** Calls per second the account may make. */
  accountRatePerSecond: number;
  /** How long one NodeInstall call takes, in ms (> 0). */
  callLatencyMs: number;
};

export type WaveEstimate = {
  wave: number;
  size: number;
  /** Calls in flight at once during the wave. */
  inFlight: number;
  /** Instances finished per second: the smaller of what the calls in flight allow and the account's rate. */
  ratePerSecond: number;
  /** Which of the two bounds it: `concurrency` or `account_rate`. */
  boundBy: 'concurrency' | 'account_rate';
  seconds: number;
};

export type DurationEstimate = {
  /** The whole rollout, rounded up to a second. */
  seconds: number;
  waves: WaveEstimate[];
  /** The formula, in words a person can check against the figures. */
  formula: string;
};

export const ESTIMATE_FORMULA =
  'sum over waves of size / min(min(concurrency, globalConcurrency, size) * 1000 / callLatencyMs, accountRatePerSecond); ' +
  'first attempts only (retries, verification and waves held for approval not counted)';

export function estimateRolloutDuration(input: EstimateInput): DurationEstimate {
  const latencyMs = Math.max(1, input.callLatencyMs);
  const rate = Math.max(Number.MIN_VALUE, input.accountRatePerSecond);
  const waves = input.waveSizes.map((size, index): WaveEstimate => {
    const inFlight = Math.max(1, Math.min(input.concurrency, input.globalConcurrency ?? Infinity, size));
    const byConcurrency = (inFlight * 1000) / latencyMs;
    const boundBy = byConcurrency <= rate ? 'concurrency' : 'account_rate';
    const ratePerSecond = Math.min(byConcurrency, rate);
    return { wave: index + 1, size, inFlight, ratePerSecond, boundBy, seconds: size / ratePerSecond };
  });
  const total = waves.reduce((sum, wave) => sum + wave.seconds, 0);
  return { seconds: Math.ceil(total), waves, formula: ESTIMATE_FORMULA };
}
