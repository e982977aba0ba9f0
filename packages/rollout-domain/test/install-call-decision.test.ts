import { describe, expect, it } from 'vitest';
import { decideCallClaim, decideCallPeek } from '../src/index.ts';
import type { CallPeekFacts } from '../src/index.ts';

const now = new Date('2026-12-02T10:00:00.000Z');
const at = (ms: number) => new Date(now.getTime() + ms);
const facts = (over: Partial<CallPeekFacts>): CallPeekFacts => ({
  state: 'pending',
  nextAttemptAt: null,
  inFlightSince: null,
  inProgress: 0,
  concurrency: 20,
  ...over,
});
const peek = (f: CallPeekFacts | null) => decideCallPeek(f, { now, random: 0.5, staleAfterMs: 7000 });

describe('decideCallPeek (before a job asks the limits for a call)', () => {
  it('skips an instance that is gone or final', () => {
    expect(peek(null)).toEqual({ kind: 'skip', why: 'instance_final' });
    for (const state of ['succeeded', 'failed', 'cancelled', 'skipped'] as const)
      expect(peek(facts({ state }))).toEqual({ kind: 'skip', why: 'instance_final' });
  });

  it("waits for another job's call the instance is in until that call must have ended", () => {
    expect(peek(facts({ state: 'in_progress', inFlightSince: at(-2000) }))).toEqual({
      kind: 'delay',
      ms: 5000 + 500,
      why: 'call_in_flight',
    });
  });

  it('admits a stale call (its worker died: the claim replays it) and an instance whose attempt is settled', () => {
    expect(peek(facts({ state: 'in_progress', inFlightSince: at(-7000) }))).toEqual({ kind: 'admit' });
    expect(peek(facts({ state: 'in_progress', inFlightSince: null }))).toEqual({ kind: 'admit' });
  });

  it('waits for a retry not yet due, and for a free slot of the rollout concurrency, counted in instances', () => {
    expect(peek(facts({ nextAttemptAt: at(300) }))).toEqual({ kind: 'delay', ms: 300, why: 'retry_backoff' });
    const full = peek(facts({ inProgress: 20, concurrency: 20 }));
    expect(full).toMatchObject({ kind: 'delay', why: 'instance_concurrency' });
    expect(peek(facts({ inProgress: 19, concurrency: 20, nextAttemptAt: at(-1) }))).toEqual({ kind: 'admit' });
  });
});

describe('decideCallClaim', () => {
  it('delays a claim that found the concurrency used up or the retry not due, and otherwise decides as decideClaim', () => {
    expect(decideCallClaim({ kind: 'full' }, { now, random: 0 })).toMatchObject({
      kind: 'delay',
      why: 'instance_concurrency',
      refreshRollout: false,
    });
    expect(decideCallClaim({ kind: 'not_due', at: at(250) }, { now, random: 0 })).toEqual({
      kind: 'delay',
      ms: 250,
      why: 'retry_backoff',
      refreshRollout: false,
    });
    expect(decideCallClaim({ kind: 'claimed' }, { now, random: 0 })).toEqual({
      kind: 'call',
      claim: { kind: 'claimed' },
    });
    expect(decideCallClaim({ kind: 'paused' }, { now, random: 0 })).toMatchObject({
      kind: 'delay',
      refreshRollout: true,
    });
  });
});
