import { describe, expect, it } from 'vitest';
import type { PlansBenchResult } from '../src/measure-plans.ts';
import { renderPlansReport } from '../src/measure-plans.ts';

const result = (dryRunSeconds: number[], precheckSeconds: number[]): PlansBenchResult => ({
  dryRun: { ids: 100_000, refused: 1_000, seconds: dryRunSeconds, medianSeconds: dryRunSeconds[1]!, targetSeconds: 5 },
  precheck: {
    ids: 10_000,
    seconds: precheckSeconds,
    medianSeconds: precheckSeconds[1]!,
    targetSeconds: 60,
    calls: 200,
    accountRateLimitRps: null,
    counts: { skip: 0, install: 10_000, not_found: 0, unchecked: 0 },
  },
});

describe('renderPlansReport', () => {
  it('shows each plan median and slowest seconds beside its target, and whether the median is within it', () => {
    const lines = renderPlansReport(result([1.2, 1.5, 7.9], [70.0, 61.25, 40.0])).split('\n');
    const dryRun = lines.find((l) => l.includes('1,000 bad ids listed'))!;
    expect(dryRun.split('|').map((c) => c.trim())).toEqual([
      '',
      'dry run, 1,000 bad ids listed',
      '100,000',
      '1.50',
      '7.90',
      'under 5',
      'yes',
      '',
    ]);
    const precheck = lines.find((l) => l.includes('with precheck'))!;
    expect(
      precheck
        .split('|')
        .map((c) => c.trim())
        .slice(2, 7),
    ).toEqual(['10,000', '61.25', '70.00', 'under 60', 'no']);
    expect(lines.at(-1)).toContain("200 status calls (3.3/s at the median), account rate the API's default");
  });
});
