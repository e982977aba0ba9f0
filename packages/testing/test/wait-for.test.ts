import { describe, expect, it } from 'vitest';
import { waitFor } from '../src/index.ts';

describe('waitFor', () => {
  it('returns the first truthy value of the check, polling until it comes', async () => {
    let calls = 0;
    const value = await waitFor('the third call', () => (++calls >= 3 ? { calls } : null), { intervalMs: 1 });
    expect(value).toEqual({ calls: 3 });
  });

  it('tries again after a check that throws, and returns once it answers', async () => {
    let calls = 0;
    const value = await waitFor(
      'a check that fails twice',
      async () => {
        if (++calls < 3) throw new Error('connection refused');
        return 'up';
      },
      { intervalMs: 1 },
    );
    expect(value).toBe('up');
  });

  it('times out naming what was awaited, the timeout and the last error seen', async () => {
    await expect(
      waitFor(
        'the rollout to complete',
        () => {
          throw new Error('still running');
        },
        { timeoutMs: 20, intervalMs: 5 },
      ),
    ).rejects.toThrow('timed out after 20 ms waiting for the rollout to complete (last: still running)');
  });

  it('times out with the last value when the check only ever answers falsy', async () => {
    await expect(waitFor('a count above zero', () => 0, { timeoutMs: 10, intervalMs: 2 })).rejects.toThrow(
      'waiting for a count above zero (last: 0)',
    );
  });
});
