import { describe, expect, it } from 'vitest';
import type { AnswerFacts } from '../src/index.ts';
import {
  DEFAULT_RETRY_POLICY,
  decideAdmission,
  decideAfterAgentCheck,
  decideAfterRecord,
  decideAnswer,
  decideClaim,
  decideJobStart,
  LATE_START_TOLERANCE_MS,
} from '../src/index.ts';
import {
  ANSWER_LOST_JITTER_MS,
  ANSWER_LOST_MIN_MS,
  BUSY_RECHECK_JITTER_MS,
  DEFERRED_RECHECK_MS,
  PAUSED_RECHECK_MS,
  HOLD_FOR_RATE_MAX_MS,
  RATE_WAIT_JITTER_MS,
  SLOT_RECHECK_JITTER_MS,
  SLOT_RECHECK_MIN_MS,
} from '../src/attempt-decision.ts';

const now = new Date('2026-03-01T12:00:00.000Z');
const at = (ms: number) => new Date(now.getTime() + ms);
/** maxAttempts 4, baseDelayMs 1000, maxDelayMs 60000. */
const retry = DEFAULT_RETRY_POLICY;

const answer = (over: Partial<AnswerFacts> = {}): AnswerFacts => ({
  kind: 'success',
  outcome: 'success',
  errorCode: null,
  errorMessage: null,
  httpStatus: 200,
  attemptNo: 1,
  replay: false,
  force: true,
  ...over,
});
const decide = (over: Partial<AnswerFacts>, random = 0.5) => decideAnswer(answer(over), { retry, now, random });

describe('job start, from the rollout as last read', () => {
  it('skips the job of a rollout that is gone, completed or cancelled', () => {
    expect(decideJobStart(null)).toEqual({ kind: 'skip', why: 'rollout_closed' });
    for (const status of ['completed', 'cancelled'] as const)
      expect(decideJobStart({ status })).toEqual({ kind: 'skip', why: 'rollout_closed' });
  });

  it('delays the job of a paused rollout by the paused re-check, and admits that of a running one', () => {
    expect(decideJobStart({ status: 'paused' })).toEqual({
      kind: 'delay',
      ms: PAUSED_RECHECK_MS,
      why: 'rollout_paused',
    });
    expect(PAUSED_RECHECK_MS).toBe(1000);
    const rollout = { id: 'r1', status: 'running' } as const;
    expect(decideJobStart(rollout)).toEqual({ kind: 'admit', rollout });
  });
});

describe('admission', () => {
  it('claims once admitted, with the slot to give back and the wait for the reserved start', () => {
    expect(decideAdmission({ kind: 'admitted', slot: 'slot-1', waitMs: 0 }, { random: 0.3 })).toEqual({
      kind: 'claim',
      slot: 'slot-1',
      waitMs: 0,
    });
    expect(decideAdmission({ kind: 'admitted', slot: 'slot-2', waitMs: 640 }, { random: 0.3 })).toEqual({
      kind: 'claim',
      slot: 'slot-2',
      waitMs: 640,
    });
  });

  it('takes a new start for a call whose admission answered more than LATE_START_TOLERANCE_MS after its reserved start', () => {
    const late = (lateMs: number) => decideAdmission({ kind: 'admitted', slot: 's', waitMs: 0, lateMs }, { random: 0 });
    expect(late(LATE_START_TOLERANCE_MS)).toEqual({ kind: 'claim', slot: 's', waitMs: 0 });
    expect(late(LATE_START_TOLERANCE_MS + 1)).toEqual({
      kind: 'retake_start',
      slot: 's',
      lateMs: LATE_START_TOLERANCE_MS + 1,
    });
  });

  it("waits what the account's rate says, plus up to 20 ms of jitter, held in the worker up to a minute", () => {
    expect(decideAdmission({ kind: 'rate', waitMs: 37 }, { random: 0 })).toEqual({
      kind: 'hold',
      ms: 37,
      why: 'account_rate',
    });
    expect(decideAdmission({ kind: 'rate', waitMs: 37 }, { random: 0.5 })).toMatchObject({ kind: 'hold', ms: 47 });
    expect(RATE_WAIT_JITTER_MS).toBe(20);
    expect(HOLD_FOR_RATE_MAX_MS).toBe(60_000);
    expect(decideAdmission({ kind: 'rate', waitMs: 59_980 }, { random: 0 })).toMatchObject({ kind: 'hold' });
    expect(decideAdmission({ kind: 'rate', waitMs: 59_981 }, { random: 0.999 })).toEqual({
      kind: 'delay',
      ms: 59_981 + 0.999 * 20,
      why: 'account_rate',
    });
  });

  it('looks for a global slot again after 20 ms plus up to 80 ms of jitter', () => {
    expect(decideAdmission({ kind: 'slot' }, { random: 0 })).toEqual({ kind: 'delay', ms: 20, why: 'global_slot' });
    expect(decideAdmission({ kind: 'slot' }, { random: 0.5 })).toMatchObject({ ms: 60 });
    expect([SLOT_RECHECK_MIN_MS, SLOT_RECHECK_JITTER_MS]).toEqual([20, 80]);
  });
});

describe('claim', () => {
  const ctx = { now, random: 0.5 };

  it('calls for a new attempt and for the replay of a dead worker attempt, handing the claim back', () => {
    const claimed = { kind: 'claimed', attemptNo: 2 } as const;
    expect(decideClaim(claimed, ctx)).toEqual({ kind: 'call', claim: claimed });
    expect(decideClaim({ kind: 'replay' }, ctx)).toEqual({ kind: 'call', claim: { kind: 'replay' } });
  });

  it('skips an instance that is final or gone', () => {
    expect(decideClaim({ kind: 'final' }, ctx)).toEqual({ kind: 'skip', why: 'instance_final' });
    expect(decideClaim({ kind: 'missing' }, ctx)).toEqual({ kind: 'skip', why: 'instance_final' });
  });

  it('delays the job of a rollout paused since it was read, and says the rollout read is out of date', () => {
    expect(decideClaim({ kind: 'paused' }, ctx)).toEqual({
      kind: 'delay',
      ms: PAUSED_RECHECK_MS,
      why: 'rollout_paused',
      refreshRollout: true,
    });
  });

  it('waits for a call that may be in flight until it must have ended, by the injected clock, plus jitter', () => {
    expect(decideClaim({ kind: 'busy', retryAt: at(5000) }, { now, random: 0 })).toEqual({
      kind: 'delay',
      ms: 5000,
      why: 'call_in_flight',
      refreshRollout: false,
    });
    expect(decideClaim({ kind: 'busy', retryAt: at(5000) }, { now, random: 0.5 })).toMatchObject({ ms: 5500 });
    // The same retryAt seen a second later by the clock is a second closer.
    expect(decideClaim({ kind: 'busy', retryAt: at(5000) }, { now: at(1000), random: 0 })).toMatchObject({ ms: 4000 });
    expect(BUSY_RECHECK_JITTER_MS).toBe(1000);
  });

  it('reports an instance the claim closed as cancelled or failed', () => {
    const cancelled = { kind: 'closed', to: 'cancelled' } as const;
    expect(decideClaim(cancelled, ctx)).toEqual({ kind: 'closed', to: 'cancelled', claim: cancelled });
    const timedOut = { kind: 'closed', to: 'failed' } as const;
    expect(decideClaim(timedOut, ctx)).toEqual({ kind: 'closed', to: 'failed', claim: timedOut });
  });
});

describe('answer', () => {
  it('records a success: no next attempt, no manual-install reason, the account rate grows, nothing paused', () => {
    expect(decide({})).toEqual({
      kind: 'record',
      verdict: 'success',
      recorded: { outcome: 'success', outcomeKind: 'success' },
      nextAttemptAt: null,
      manualInstallReason: null,
      accountRate: 'success',
      pauseRollout: null,
    });
  });

  it('schedules a transient failure after the retry policy backoff from the injected clock', () => {
    const decision = decide({ kind: 'retryable', outcome: 'retryable', httpStatus: 503, errorCode: '503' }, 0.5);
    // First retry: exponential step 1000 ms, equal jitter: 500 + 0.5 * 500.
    expect(decision).toEqual({
      kind: 'record',
      verdict: 'retryable',
      recorded: { outcome: 'retryable', outcomeKind: 'retryable' },
      nextAttemptAt: at(750),
      manualInstallReason: 'rejected',
      accountRate: 'none',
      pauseRollout: null,
    });
    const third = decide({ kind: 'retryable', outcome: 'retryable', attemptNo: 3 }, 0);
    expect(third).toMatchObject({ nextAttemptAt: at(2000), manualInstallReason: 'rejected' });
  });

  it('backs off harder after throttling and tells the account rate to slow down', () => {
    const decision = decide({ kind: 'throttled', outcome: 'retryable', errorCode: 'Throttling.User' }, 0.5);
    // 1000 ms x THROTTLE_DELAY_FACTOR 4 = 4000 ms step: 2000 + 0.5 * 2000.
    expect(decision).toMatchObject({ verdict: 'retryable', nextAttemptAt: at(3000), accountRate: 'throttled' });
  });

  it('names retries_exhausted as the manual-install reason of the last allowed attempt', () => {
    expect(decide({ kind: 'retryable', outcome: 'retryable', attemptNo: 4 })).toMatchObject({
      verdict: 'retryable',
      manualInstallReason: 'retries_exhausted',
    });
    expect(decide({ kind: 'retryable', outcome: 'retryable', attemptNo: 3 })).toMatchObject({
      manualInstallReason: 'rejected',
    });
  });

  it('records a permanent failure with its reason and no next attempt', () => {
    expect(
      decide({ kind: 'final', outcome: 'final', httpStatus: 404, errorCode: 'InvalidInstanceId.NotFound' }),
    ).toEqual({
      kind: 'record',
      verdict: 'final',
      recorded: { outcome: 'final', outcomeKind: 'final' },
      nextAttemptAt: null,
      manualInstallReason: 'instance_not_found',
      accountRate: 'none',
      pauseRollout: null,
    });
  });

  it('defers the instance on a fleet-wide error, stored as retryable, and pauses the rollout with the reason', () => {
    const decision = decide({
      kind: 'fleet_wide',
      outcome: 'final',
      httpStatus: 403,
      errorCode: 'Forbidden.RAM',
      errorMessage: 'User not authorized to operate on the specified resource.',
    });
    expect(decision).toEqual({
      kind: 'record',
      verdict: 'deferred',
      recorded: { outcome: 'retryable', outcomeKind: 'fleet_wide' },
      nextAttemptAt: null,
      manualInstallReason: 'permission_denied',
      accountRate: 'none',
      pauseRollout: 'fleet-wide error Forbidden.RAM: User not authorized to operate on the specified resource.',
    });
  });

  it('cuts a long fleet-wide pause reason to 500 characters', () => {
    const decision = decide({ kind: 'fleet_wide', outcome: 'final', errorCode: null, errorMessage: 'x'.repeat(900) });
    expect(decision.kind === 'record' && decision.pauseRollout).toBe(`fleet-wide error : ${'x'.repeat(481)}`);
  });
});

describe('answer of a replayed request', () => {
  const lost = { replay: true, kind: 'resign', outcome: 'retryable', errorCode: 'SignatureNonceUsed' } as const;

  it('with Force=true, asks NodeStatus before deciding anything', () => {
    expect(decide({ ...lost, force: true })).toEqual({ kind: 'answer_check' });
  });

  it('records the lost call as an inferred success when NodeStatus shows the agent running or installing', () => {
    for (const agentStatus of ['running', 'installing']) {
      expect(decideAfterAgentCheck(agentStatus, { random: 0.5 })).toEqual({
        kind: 'record',
        verdict: 'success',
        recorded: { outcome: 'success', outcomeKind: 'success_inferred' },
        nextAttemptAt: null,
        manualInstallReason: null,
        accountRate: 'success',
        pauseRollout: null,
      });
    }
  });

  it('finds the answer lost, for a new attempt almost at once, when the agent is not up or NodeStatus was unclear', () => {
    for (const agentStatus of ['stopped', 'not_installed', 'install_faild', null]) {
      expect(decideAfterAgentCheck(agentStatus, { random: 0 })).toEqual({
        kind: 'answer_lost',
        ms: ANSWER_LOST_MIN_MS,
      });
    }
    expect(decideAfterAgentCheck(null, { random: 0.5 })).toEqual({ kind: 'answer_lost', ms: 11 });
    expect([ANSWER_LOST_MIN_MS, ANSWER_LOST_JITTER_MS]).toEqual([1, 20]);
  });

  it('without Force, finds the answer lost without asking NodeStatus (a new attempt cannot reinstall anything)', () => {
    expect(decide({ ...lost, force: false }, 0)).toEqual({ kind: 'answer_lost', ms: 1 });
  });

  it("records any other answer to a replay as that attempt's one real call", () => {
    expect(decide({ replay: true })).toMatchObject({ kind: 'record', verdict: 'success' });
    expect(decide({ replay: true, kind: 'retryable', outcome: 'retryable', errorCode: '503' })).toMatchObject({
      kind: 'record',
      verdict: 'retryable',
    });
  });

  it('treats SignatureNonceUsed on a first request as a retryable answer, not a lost one', () => {
    expect(decide({ ...lost, replay: false })).toMatchObject({ kind: 'record', verdict: 'retryable' });
  });
});

describe('after the answer is recorded', () => {
  it('skips a duplicate and an instance that had moved on', () => {
    expect(decideAfterRecord({ kind: 'duplicate' }, { nextAttemptAt: null, now })).toEqual({ kind: 'duplicate' });
    expect(decideAfterRecord({ kind: 'recorded_only' }, { nextAttemptAt: null, now })).toEqual({ kind: 'moved_on' });
  });

  it('delays a retry until its next attempt is due by the injected clock', () => {
    expect(decideAfterRecord({ kind: 'transitioned', to: 'pending' }, { nextAttemptAt: at(750), now })).toEqual({
      kind: 'delay',
      ms: 750,
      why: 'retry_backoff',
    });
    expect(
      decideAfterRecord({ kind: 'transitioned', to: 'pending' }, { nextAttemptAt: at(750), now: at(500) }),
    ).toMatchObject({ ms: 250 });
  });

  it('looks again after a second at an instance deferred by a fleet-wide error', () => {
    expect(decideAfterRecord({ kind: 'transitioned', to: 'pending' }, { nextAttemptAt: null, now })).toEqual({
      kind: 'delay',
      ms: DEFERRED_RECHECK_MS,
      why: 'deferred',
    });
    expect(DEFERRED_RECHECK_MS).toBe(1000);
  });

  it('reports a final instance for the rollout to react to', () => {
    for (const to of ['succeeded', 'failed', 'cancelled'] as const)
      expect(decideAfterRecord({ kind: 'transitioned', to }, { nextAttemptAt: null, now })).toEqual({
        kind: 'finished',
        to,
      });
  });
});
