import { describe, expect, it } from 'vitest';
import { decideWaveGate, planWaveSizes, resolveCount, shouldAbort, waveNumbers } from '../src/index.ts';

describe('counts', () => {
  it('resolves numbers and percentages of the rollout, rounding up and never below 1', () => {
    expect(resolveCount(7, 1000)).toBe(7);
    expect(resolveCount('10%', 1000)).toBe(100);
    expect(resolveCount('10%', 5)).toBe(1);
    expect(resolveCount('0.5%', 1001)).toBe(6);
  });
});

describe('wave plans', () => {
  it('is one wave of everything without a plan', () => {
    expect(planWaveSizes(null, 10)).toEqual([10]);
  });

  it('repeats the last explicit size, Ansible style', () => {
    expect(planWaveSizes({ sizes: [1, 5, '20%'] }, 30)).toEqual([1, 5, 6, 6, 6, 6]);
    expect(planWaveSizes({ sizes: [100] }, 30)).toEqual([30]);
  });

  it('grows a canary by a factor', () => {
    expect(planWaveSizes({ canary: 2, growthFactor: 3 }, 100)).toEqual([2, 6, 18, 54, 20]);
    expect(planWaveSizes({ canary: '1%', growthFactor: 1 }, 5)).toEqual([1, 2, 2]);
  });

  it('numbers instances by wave in order', () => {
    expect(waveNumbers([1, 2, 3])).toEqual([1, 2, 2, 3, 3, 3]);
  });
});

describe('wave gate', () => {
  it('advances, completes, or pauses below the threshold', () => {
    expect(decideWaveGate({ wave: 1, waveCount: 3, succeeded: 9, failed: 1, thresholdPercent: 90 })).toEqual({
      type: 'advance',
      nextWave: 2,
    });
    expect(decideWaveGate({ wave: 3, waveCount: 3, succeeded: 10, failed: 0, thresholdPercent: 90 })).toEqual({
      type: 'complete',
    });
    const paused = decideWaveGate({ wave: 1, waveCount: 3, succeeded: 8, failed: 2, thresholdPercent: 90 });
    expect(paused).toEqual({ type: 'pause', reason: 'wave 1 success rate 80.0% is below the 90% threshold' });
  });
});

describe('abort threshold', () => {
  const abort = { failureThresholdPercent: 20, minFinished: 10 };
  it('waits for the minimum number of finished instances', () => {
    expect(shouldAbort(abort, { succeeded: 0, failed: 9 }).abort).toBe(false);
  });
  it('aborts at or above the threshold, not below', () => {
    expect(shouldAbort(abort, { succeeded: 8, failed: 2 }).abort).toBe(true);
    expect(shouldAbort(abort, { succeeded: 9, failed: 2 }).abort).toBe(false);
    expect(shouldAbort(null, { succeeded: 0, failed: 100 }).abort).toBe(false);
    expect(shouldAbort(abort, { succeeded: 8, failed: 2 }).reason).toMatch(/^aborted: 2 of 10/);
  });
});
