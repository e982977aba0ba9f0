/**
 * Rollout policy: how many calls at once, in which waves, when to stop. Pure functions over plain data; the API
 * validates the shapes, the worker and the database apply the decisions.
 */
import type { RetryPolicy } from './retry-policy.ts';
import type { RolloutSchedule } from './schedule.ts';
import { DEFAULT_RETRY_POLICY } from './retry-policy.ts';

/** A count, or a share of the rollout's instances such as "10%". */
export type CountSpec = number | `${number}%`;

export type WavePlan =
  /** Explicit wave sizes, like Ansible's `serial: [1, 5, "20%"]`; the last size repeats until every instance has a wave. */
  | { sizes: CountSpec[] }
  /** A canary wave, then each wave `growthFactor` times the previous one (AWS IoT's exponential rollout). */
  | { canary: CountSpec; growthFactor: number };

export type AbortPolicy = {
  /** Cancel the remaining work once failed / finished reaches this percentage... */
  failureThresholdPercent: number;
  /** ...counted only once at least this many instances have finished. */
  minFinished: number;
};

/**
 * Which CloudMonitor action installs the agent: `node-install` (NodeInstall, API 2016-2018: one instance per call) or
 * `install-monitoring-agent` (InstallMonitoringAgent, API 2019-01-01: up to 10 instances of the rollout per call,
 * verified with DescribeMonitoringAgentStatuses; the host needs the Cloud Assistant client).
 */
export type InstallDriver = 'node-install' | 'install-monitoring-agent';

export const INSTALL_DRIVERS: readonly InstallDriver[] = ['node-install', 'install-monitoring-agent'];

/** The agent status call of a driver's API generation: what its skip checks, pre-checks and verification ask. */
export function agentStatusActionOf(driver: InstallDriver): 'NodeStatusList' | 'DescribeMonitoringAgentStatuses' {
  return driver === 'install-monitoring-agent' ? 'DescribeMonitoringAgentStatuses' : 'NodeStatusList';
}

export type RolloutPolicy = {
  /** The install action (see InstallDriver). Default `node-install`. */
  driver: InstallDriver;
  /** Most NodeInstall calls in flight for this rollout across all workers: a number or a share such as "10%". */
  concurrency: CountSpec;
  retry: RetryPolicy;
  /** null: one wave holding every instance. */
  waves: WavePlan | null;
  /** A finished wave lets the next one start only if its success rate (succeeded / finished) is at least this. */
  waveSuccessThresholdPercent: number;
  abort: AbortPolicy | null;
  /** Longest time, in ms, from an instance's first call to its final state; past it the instance fails as timed out. */
  instanceTimeoutMs: number | null;
  /**
   * Before an instance's first NodeInstall, ask NodeStatus; an agent already running ends the instance `skipped`
   * with no NodeInstall. Contradicts `force` (a reinstall). Default false.
   */
  skipInstalled: boolean;
  /** When calls may start: startAt, endAt with its behaviour, maintenance windows (schedule.ts); null: at once, always. */
  schedule: RolloutSchedule | null;
};

export const DEFAULT_WAVE_SUCCESS_THRESHOLD_PERCENT = 90;

export function defaultPolicy(): RolloutPolicy {
  return {
    driver: 'node-install',
    concurrency: 50,
    retry: { ...DEFAULT_RETRY_POLICY },
    waves: null,
    waveSuccessThresholdPercent: DEFAULT_WAVE_SUCCESS_THRESHOLD_PERCENT,
    abort: null,
    instanceTimeoutMs: null,
    skipInstalled: false,
    schedule: null,
  };
}

/** A count spec as a number of instances out of `total`: percentages round up, and never give less than 1. */
export function resolveCount(spec: CountSpec, total: number): number {
  if (typeof spec === 'number') return Math.max(1, Math.floor(spec));
  const percent = Number(spec.slice(0, -1));
  return Math.max(1, Math.ceil((total * percent) / 100));
}

/** Sizes of every wave, summing to `total`. */
export function planWaveSizes(plan: WavePlan | null, total: number): number[] {
  if (total <= 0) return [];
  if (plan === null) return [total];
  const sizes: number[] = [];
  let remaining = total;
  let index = 0;
  let previous = 0;
  while (remaining > 0) {
    let size: number;
    if ('sizes' in plan) {
      const spec = plan.sizes[Math.min(index, plan.sizes.length - 1)]!;
      size = resolveCount(spec, total);
    } else {
      size =
        index === 0
          ? resolveCount(plan.canary, total)
          : Math.max(previous + 1, Math.ceil(previous * plan.growthFactor));
    }
    size = Math.min(size, remaining);
    sizes.push(size);
    remaining -= size;
    previous = size;
    index++;
  }
  return sizes;
}

/** Wave number (1-based) of each of `total` instances in order, for the given sizes. */
export function waveNumbers(sizes: readonly number[]): number[] {
  const out: number[] = [];
  sizes.forEach((size, i) => {
    for (let n = 0; n < size; n++) out.push(i + 1);
  });
  return out;
}

export type WaveGateDecision =
  { type: 'advance'; nextWave: number } | { type: 'complete' } | { type: 'pause'; reason: string };

/**
 * A wave has finished (none of its instances is open). Start the next one, finish the rollout, or pause for a
 * person because the wave's success rate is below the threshold.
 */
export function decideWaveGate(input: {
  wave: number;
  waveCount: number;
  succeeded: number;
  failed: number;
  thresholdPercent: number;
}): WaveGateDecision {
  const finished = input.succeeded + input.failed;
  const rate = finished === 0 ? 100 : (input.succeeded / finished) * 100;
  if (rate < input.thresholdPercent) {
    return {
      type: 'pause',
      reason: `wave ${input.wave} success rate ${rate.toFixed(1)}% is below the ${input.thresholdPercent}% threshold`,
    };
  }
  return input.wave >= input.waveCount ? { type: 'complete' } : { type: 'advance', nextWave: input.wave + 1 };
}

/** True when the failures so far cross the abort threshold (and enough instances have finished to judge). */
export function shouldAbort(
  abort: AbortPolicy | null,
  counts: { succeeded: number; failed: number },
): { abort: boolean; reason: string } {
  if (!abort) return { abort: false, reason: '' };
  const finished = counts.succeeded + counts.failed;
  if (finished < Math.max(1, abort.minFinished)) return { abort: false, reason: '' };
  const rate = (counts.failed / finished) * 100;
  return rate >= abort.failureThresholdPercent
    ? {
        abort: true,
        reason: `aborted: ${counts.failed} of ${finished} finished instances failed (${rate.toFixed(1)}% >= ${abort.failureThresholdPercent}%)`,
      }
    : { abort: false, reason: '' };
}
