import { describe, expect, it } from 'vitest';
import type { ThroughputRun, Variant } from '../src/measure-throughput.ts';
import type { PairResult } from '../src/report.ts';
import { medianRun, roundRatio } from '../src/report.ts';

/** Runs of one pair in the order the harness makes them: each round runs every variant once. */
function pair(rounds: Partial<Record<Variant, number>>[]): PairResult {
  const runs = rounds.flatMap((round) =>
    Object.entries(round).map(
      ([variant, efficiency]) => ({ variant, efficiency, throughput: efficiency * 1000 }) as unknown as ThroughputRun,
    ),
  );
  return { concurrency: 100, latencyMs: 100, runs };
}

describe('roundRatio', () => {
  it('divides each run by the baseline run of its own round, not by the baseline median', () => {
    // Round 2 ran slow for both: its ratio is 1.0, though ours' 0.5 is far below bare's median (0.9).
    const ratio = roundRatio(
      pair([
        { bare: 0.9, ours: 0.81 },
        { bare: 0.5, ours: 0.5 },
        { bare: 1.0, ours: 0.7 },
      ]),
      'ours',
      'bare',
    )!;
    expect(ratio.rounds.map((r) => Number(r.toFixed(2)))).toEqual([0.9, 1, 0.7]);
    expect(ratio.median).toBeCloseTo(0.9);
  });

  it('takes the mean of the middle two for an even number of rounds', () => {
    const ratio = roundRatio(
      pair([
        { bare: 1, ours: 0.9 },
        { bare: 1, ours: 0.7 },
      ]),
      'ours',
      'bare',
    )!;
    expect(ratio.median).toBeCloseTo(0.8);
  });

  it('has nothing to say without the baseline', () => {
    expect(roundRatio(pair([{ ours: 0.9 }]), 'ours', 'bare')).toBeUndefined();
  });
});

describe('medianRun', () => {
  it('is the middle run by throughput, the lower middle for an even count', () => {
    expect(medianRun(pair([{ ours: 0.3 }, { ours: 0.9 }, { ours: 0.5 }]), 'ours')?.efficiency).toBe(0.5);
    expect(medianRun(pair([{ ours: 0.9 }, { ours: 0.5 }]), 'ours')?.efficiency).toBe(0.5);
  });
});
