import { describe, expect, it } from 'vitest';
import { computeProgress } from '../src/index.ts';

const now = new Date('2026-01-01T00:00:00Z');

describe('computeProgress', () => {
  it('computes the rate over the window and the ETA of what remains', () => {
    expect(
      computeProgress({ done: 400, total: 1000, finishedInWindow: 120, windowSeconds: 60, status: 'running', now }),
    ).toEqual({
      done: 400,
      total: 1000,
      fraction: 0.4,
      ratePerSecond: 2,
      windowSeconds: 60,
      etaSeconds: 300,
      etaAt: '2026-01-01T00:05:00.000Z',
    });
  });

  it('divides by the window it is given (a young rollout) and shows it in 0.1 s steps', () => {
    // 5 s into a 2,000-instance rollout, 104 finished: 20.8 a second, not 104 / 60 = 1.73.
    expect(
      computeProgress({ done: 104, total: 2000, finishedInWindow: 104, windowSeconds: 5, status: 'running', now }),
    ).toMatchObject({ ratePerSecond: 20.8, windowSeconds: 5, etaSeconds: 92 });
    expect(
      computeProgress({ done: 3, total: 10, finishedInWindow: 3, windowSeconds: 2.46, status: 'running', now }),
    ).toMatchObject({ ratePerSecond: 1.22, windowSeconds: 2.5, etaSeconds: 6 });
  });

  it('has no ETA when nothing finished in the window, and 0 when every instance is final', () => {
    expect(
      computeProgress({ done: 10, total: 100, finishedInWindow: 0, windowSeconds: 60, status: 'running', now }),
    ).toMatchObject({ ratePerSecond: 0, etaSeconds: null, etaAt: null });
    expect(
      computeProgress({ done: 100, total: 100, finishedInWindow: 0, windowSeconds: 60, status: 'running', now }),
    ).toMatchObject({ fraction: 1, etaSeconds: 0 });
    expect(
      computeProgress({ done: 0, total: 0, finishedInWindow: 0, windowSeconds: 60, status: 'running', now }),
    ).toMatchObject({ fraction: 1, etaSeconds: 0 });
  });

  it.each(['completed', 'cancelled'] as const)('shows no rate and no ETA for a %s rollout: it is over', (status) => {
    expect(computeProgress({ done: 100, total: 100, finishedInWindow: 40, windowSeconds: 60, status, now })).toEqual({
      done: 100,
      total: 100,
      fraction: 1,
      ratePerSecond: null,
      windowSeconds: 60,
      etaSeconds: null,
      etaAt: null,
    });
    expect(
      computeProgress({ done: 30, total: 100, finishedInWindow: 0, windowSeconds: 60, status, now }),
    ).toMatchObject({ fraction: 0.3, ratePerSecond: null, etaSeconds: null, etaAt: null });
  });

  it('shows the rate of a paused rollout (calls in flight finish) but no ETA: nothing new starts', () => {
    expect(
      computeProgress({ done: 40, total: 100, finishedInWindow: 30, windowSeconds: 60, status: 'paused', now }),
    ).toMatchObject({ ratePerSecond: 0.5, etaSeconds: null, etaAt: null });
  });
});
