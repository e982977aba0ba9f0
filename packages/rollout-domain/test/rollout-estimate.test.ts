import { describe, expect, it } from 'vitest';
import { estimateRolloutDuration } from '../src/index.ts';

describe('estimateRolloutDuration', () => {
  it('is bound by the account rate when the calls in flight could go faster', () => {
    // 50 in flight at 200 ms a call would finish 250 a second; the account allows 10.
    const estimate = estimateRolloutDuration({
      waveSizes: [1000],
      concurrency: 50,
      globalConcurrency: 500,
      accountRatePerSecond: 10,
      callLatencyMs: 200,
    });
    expect(estimate.waves).toEqual([
      { wave: 1, size: 1000, inFlight: 50, ratePerSecond: 10, boundBy: 'account_rate', seconds: 100 },
    ]);
    expect(estimate.seconds).toBe(100);
  });

  it('is bound by the concurrency (and the global cap below it) when calls are slow', () => {
    // min(100, 20, 600) = 20 in flight at 2 s a call: 10 a second, below the account's 50.
    const estimate = estimateRolloutDuration({
      waveSizes: [600],
      concurrency: 100,
      globalConcurrency: 20,
      accountRatePerSecond: 50,
      callLatencyMs: 2000,
    });
    expect(estimate.waves[0]).toMatchObject({ inFlight: 20, ratePerSecond: 10, boundBy: 'concurrency' });
    expect(estimate.seconds).toBe(60);
  });

  it('adds the waves up, a small wave running no more calls than it has instances', () => {
    // wave 1: 1 instance, 1 in flight, 1 s; wave 2: 9 at once, 1 s; wave 3: 90 with 10 in flight, 9 s.
    const estimate = estimateRolloutDuration({
      waveSizes: [1, 9, 90],
      concurrency: 10,
      globalConcurrency: null,
      accountRatePerSecond: 1000,
      callLatencyMs: 1000,
    });
    expect(estimate.waves.map((w) => [w.inFlight, w.seconds])).toEqual([
      [1, 1],
      [9, 1],
      [10, 9],
    ]);
    expect(estimate.seconds).toBe(11);
    expect(estimate.formula).toContain('sum over waves');
  });

  it('rounds a fraction of a second up', () => {
    const estimate = estimateRolloutDuration({
      waveSizes: [3],
      concurrency: 50,
      globalConcurrency: 500,
      accountRatePerSecond: 2,
      callLatencyMs: 100,
    });
    expect(estimate.seconds).toBe(2);
  });
});
