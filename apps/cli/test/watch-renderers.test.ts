import { describe, expect, it } from 'vitest';
import type { FleetEvent, Rollout } from '@fleet/api-client';
import type { Terminal } from '../src/fleet/output.ts';
import { plainRenderer } from '../src/fleet/watch/renderers.ts';

function rollout(done: number): Rollout {
  return {
    id: 'r1',
    status: 'running',
    counts: { total: 10, pending: 10 - done, in_progress: 0, succeeded: done, failed: 0, cancelled: 0 },
    wave: { current: 1, count: 2 },
    limits: { accountRateNowRps: 50 },
    progress: {
      done,
      total: 10,
      fraction: done / 10,
      ratePerSecond: 1,
      windowSeconds: 10,
      etaSeconds: 10 - done,
      etaAt: null,
    },
  } as unknown as Rollout;
}

function terminal() {
  const out: string[] = [];
  const term: Terminal = {
    out: (t) => out.push(t),
    err: () => {},
    columns: undefined,
    stdoutIsTTY: false,
    stderrIsTTY: false,
    color: false,
  };
  return { term, out };
}

describe('plainRenderer (CI logs, pipes)', () => {
  it('writes every event at once but a progress line at most every 10 s, and the last figures before the recap', () => {
    let clock = 0;
    const { term, out } = terminal();
    const renderer = plainRenderer(term, () => clock);
    renderer.progress(rollout(1));
    clock = 4000;
    renderer.progress(rollout(2));
    renderer.event({
      id: '1',
      type: 'rollout.wave_started',
      data: { wave: 2, waveCount: 2 },
      createdAt: '2026-01-01T00:00:04Z',
    } as unknown as FleetEvent);
    clock = 10_500;
    renderer.progress(rollout(5));
    clock = 12_000;
    renderer.progress(rollout(6));
    renderer.finish(['RECAP'], {});
    expect(out.join('').split('\n').filter(Boolean)).toEqual([
      expect.stringMatching(/progress 1\/10 \(10%\) {2}wave 1\/2/),
      '00:00:04 wave 2/2 started',
      expect.stringMatching(/progress 5\/10/),
      expect.stringMatching(/progress 6\/10/),
      'RECAP',
    ]);
  });
});
