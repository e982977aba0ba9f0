import { describe, expect, it } from 'vitest';
import { median, runAlternatingRounds } from '../src/alternating-rounds.ts';

describe('runAlternatingRounds', () => {
  it('runs none, with, none each round, and reads the run with the load against the mean of the two without', async () => {
    const calls: string[] = [];
    // Round 0: 100, 90, 110 (ratio 0.9, noise 0.1); round 1: 200, 200, 200 (ratio 1, noise 0); round 2: 50, 60, 50.
    const throughputs = [100, 90, 110, 200, 200, 200, 50, 60, 50];
    const result = await runAlternatingRounds({
      rounds: 3,
      withKey: 'clients',
      pauseMs: 0,
      runOnce: async (variant, { round, step }) => {
        calls.push(`${round}.${step} ${variant}`);
        return { throughput: throughputs[round * 3 + step]!, tag: `${round}${step}` };
      },
    });
    expect(calls).toEqual([
      '0.0 none',
      '0.1 with',
      '0.2 none',
      '1.0 none',
      '1.1 with',
      '1.2 none',
      '2.0 none',
      '2.1 with',
      '2.2 none',
    ]);
    expect(result.rounds[0]).toEqual({
      none: { throughput: 100, tag: '00' },
      clients: { throughput: 90, tag: '01' },
      noneAgain: { throughput: 110, tag: '02' },
      ratio: 90 / 105,
      noise: 10 / 105,
    });
    expect(result.rounds.map((r) => r.ratio)).toEqual([90 / 105, 1, 1.2]);
    expect(result.medianRatio).toBe(1);
    expect(result.medianNoise).toBe(0);
  });

  it('answers no rounds, and NaN medians, for zero rounds', async () => {
    const result = await runAlternatingRounds({
      rounds: 0,
      withKey: 'subscriptions',
      runOnce: () => Promise.reject(new Error('not to be run')),
    });
    expect(result.rounds).toEqual([]);
    expect(result.medianRatio).toBeNaN();
  });
});

describe('median', () => {
  it('is the middle value of an odd count and the lower middle one of an even count', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2);
  });
});
