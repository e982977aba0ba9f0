import { describe, expect, it } from 'vitest';
import { computeProgress } from '../src/index.ts';

const now = new Date('2026-01-01T00:00:00Z');

describe('computeProgress', () => {
  it('computes the rate over the window and the ETA of what remains', () => {
    expect(computeProgress({ done: 400, total: 1000, finishedInWindow: 120, windowSeconds: 60, now })).toEqual({
      done: 400,
      total: 1000,
      fraction: 0.4,
      ratePerSecond: 2,
      windowSeconds: 60,
      etaSeconds: 300,
      etaAt: '2026-01-01T00:05:00.000Z',
    });
  });

  it('has no ETA when nothing finished in the window, and 0 when done', () => {
    expect(computeProgress({ done: 10, total: 100, finishedInWindow: 0, windowSeconds: 60, now })).toMatchObject({
      ratePerSecond: 0,
      etaSeconds: null,
      etaAt: null,
    });
    expect(computeProgress({ done: 100, total: 100, finishedInWindow: 0, windowSeconds: 60, now })).toMatchObject({
      fraction: 1,
      etaSeconds: 0,
    });
    expect(computeProgress({ done: 0, total: 0, finishedInWindow: 0, windowSeconds: 60, now })).toMatchObject({
      fraction: 1,
      etaSeconds: 0,
    });
  });
});
