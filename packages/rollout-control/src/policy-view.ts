import type { RolloutPolicy } from '@fleet/rollout-domain';
import { defaultPolicy } from '@fleet/rollout-domain';

/** The stored policy JSON read back with defaults for fields older rollouts did not store. */
export function readPolicy(stored: unknown): RolloutPolicy {
  const base = defaultPolicy();
  const p = (stored ?? {}) as Partial<RolloutPolicy>;
  return {
    driver: p.driver ?? base.driver,
    concurrency: p.concurrency ?? base.concurrency,
    retry: { ...base.retry, ...(p.retry ?? {}) },
    waves: p.waves ?? null,
    waveSuccessThresholdPercent: p.waveSuccessThresholdPercent ?? base.waveSuccessThresholdPercent,
    abort: p.abort ?? null,
    instanceTimeoutMs: p.instanceTimeoutMs ?? null,
    skipInstalled: p.skipInstalled ?? false,
    schedule: p.schedule ?? null,
  };
}
