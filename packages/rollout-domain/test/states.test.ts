import { describe, expect, it } from 'vitest';
import {
  decideInstance,
  decideRollout,
  FINAL_INSTANCE_STATES,
  INSTANCE_STATES,
  InstanceTransitionCause,
  ROLLOUT_STATUSES,
} from '../src/index.ts';

const claim = (
  over: Partial<{
    previousAttemptStale: boolean;
    rolloutStatus: 'running' | 'paused' | 'completed' | 'cancelled';
    timedOut: boolean;
  }> = {},
) => ({ type: 'claim', previousAttemptStale: true, rolloutStatus: 'running', timedOut: false, ...over }) as const;
const finished = (
  outcome: 'success' | 'retryable' | 'final' | 'deferred',
  over: Partial<{
    attemptNo: number;
    maxAttempts: number;
    rolloutStatus: 'running' | 'paused' | 'cancelled';
    timedOut: boolean;
  }> = {},
) =>
  ({
    type: 'attempt_finished',
    outcome,
    attemptNo: 1,
    maxAttempts: 3,
    rolloutStatus: 'running',
    timedOut: false,
    ...over,
  }) as const;
const agentRunning = (
  over: Partial<{ attemptCount: number; rolloutStatus: 'running' | 'paused' | 'completed' | 'cancelled' }> = {},
) => ({ type: 'agent_running', attemptCount: 0, rolloutStatus: 'running', ...over }) as const;

describe('instance state machine', () => {
  it('claims a pending instance of a running rollout into in_progress', () => {
    expect(decideInstance('pending', claim())).toEqual({
      type: 'transition',
      from: 'pending',
      to: 'in_progress',
      cause: 'attempt_started',
      reason: 'attempt started',
    });
  });

  it('waits while another attempt on an in_progress instance may still be in flight, whatever the rollout does', () => {
    expect(decideInstance('in_progress', claim({ previousAttemptStale: false })).type).toBe('wait');
    expect(decideInstance('in_progress', claim({ previousAttemptStale: false, rolloutStatus: 'cancelled' })).type).toBe(
      'wait',
    );
  });

  it('takes over an in_progress instance whose attempt is stale', () => {
    expect(decideInstance('in_progress', claim())).toMatchObject({
      type: 'transition',
      from: 'in_progress',
      to: 'in_progress',
    });
  });

  it('starts nothing for a paused rollout and cancels what a cancelled rollout still holds', () => {
    expect(decideInstance('pending', claim({ rolloutStatus: 'paused' }))).toEqual({
      type: 'wait',
      cause: 'rollout_paused',
      reason: 'rollout paused',
    });
    expect(decideInstance('pending', claim({ rolloutStatus: 'cancelled' }))).toMatchObject({
      type: 'transition',
      to: 'cancelled',
    });
    expect(decideInstance('in_progress', claim({ rolloutStatus: 'cancelled' }))).toMatchObject({
      type: 'transition',
      to: 'cancelled',
    });
  });

  it('fails an instance past its in-progress timeout instead of calling again', () => {
    expect(decideInstance('pending', claim({ timedOut: true }))).toMatchObject({
      type: 'transition',
      to: 'failed',
      cause: 'timed_out',
    });
    expect(decideInstance('in_progress', finished('retryable', { timedOut: true }))).toMatchObject({
      to: 'failed',
      cause: 'timed_out',
    });
  });

  it.each(FINAL_INSTANCE_STATES)('never leaves the final state %s, whatever the event', (state) => {
    expect(decideInstance(state, claim()).type).toBe('ignore');
    expect(decideInstance(state, finished('success')).type).toBe('ignore');
    expect(decideInstance(state, { type: 'cancel' }).type).toBe('ignore');
  });

  it('maps attempt outcomes: success -> succeeded, final -> failed, even in a cancelled rollout', () => {
    expect(decideInstance('in_progress', finished('success'))).toMatchObject({ to: 'succeeded' });
    expect(decideInstance('in_progress', finished('final'))).toMatchObject({ to: 'failed' });
    expect(decideInstance('in_progress', finished('success', { rolloutStatus: 'cancelled' }))).toMatchObject({
      to: 'succeeded',
    });
  });

  it('sends a retryable failure back to pending while attempts remain, and fails it on the last attempt', () => {
    expect(decideInstance('in_progress', finished('retryable', { attemptNo: 2 }))).toMatchObject({ to: 'pending' });
    expect(decideInstance('in_progress', finished('retryable', { attemptNo: 3 }))).toMatchObject({
      to: 'failed',
      cause: 'retries_exhausted',
    });
  });

  it('puts a fleet-wide (deferred) failure back to pending without counting it, and cancels it in a cancelled rollout', () => {
    expect(decideInstance('in_progress', finished('deferred', { attemptNo: 3 }))).toMatchObject({ to: 'pending' });
    expect(decideInstance('in_progress', finished('deferred', { rolloutStatus: 'cancelled' }))).toMatchObject({
      to: 'cancelled',
    });
    expect(decideInstance('in_progress', finished('retryable', { rolloutStatus: 'cancelled' }))).toMatchObject({
      to: 'cancelled',
    });
  });

  it('ignores an attempt answer for an instance that is not in_progress (late duplicate)', () => {
    expect(decideInstance('pending', finished('success')).type).toBe('ignore');
  });

  it('cancels pending instances but lets a running call finish first', () => {
    expect(decideInstance('pending', { type: 'cancel' })).toMatchObject({ type: 'transition', to: 'cancelled' });
    expect(decideInstance('in_progress', { type: 'cancel' }).type).toBe('wait');
  });

  it.each([
    ['pending', claim(), 'transition', 'in_progress', 'attempt_started'],
    ['in_progress', claim(), 'transition', 'in_progress', 'previous_attempt_abandoned'],
    ['in_progress', claim({ previousAttemptStale: false }), 'wait', undefined, 'attempt_in_flight'],
    ['pending', claim({ rolloutStatus: 'paused' }), 'wait', undefined, 'rollout_paused'],
    ['pending', claim({ rolloutStatus: 'completed' }), 'transition', 'cancelled', 'rollout_closed'],
    ['pending', claim({ timedOut: true }), 'transition', 'failed', 'timed_out'],
    ['failed', claim(), 'ignore', undefined, 'instance_final'],
    ['in_progress', finished('success'), 'transition', 'succeeded', 'install_succeeded'],
    ['in_progress', finished('final'), 'transition', 'failed', 'permanent_failure'],
    ['in_progress', finished('retryable'), 'transition', 'pending', 'transient_failure'],
    ['in_progress', finished('retryable', { attemptNo: 3 }), 'transition', 'failed', 'retries_exhausted'],
    ['in_progress', finished('retryable', { attemptNo: 3, timedOut: true }), 'transition', 'failed', 'timed_out'],
    ['in_progress', finished('deferred'), 'transition', 'pending', 'fleet_wide_error'],
    ['in_progress', finished('deferred', { rolloutStatus: 'cancelled' }), 'transition', 'cancelled', 'rollout_closed'],
    ['pending', finished('success'), 'ignore', undefined, 'not_in_progress'],
    ['pending', { type: 'cancel' } as const, 'transition', 'cancelled', 'rollout_cancelled'],
    ['in_progress', { type: 'cancel' } as const, 'wait', undefined, 'attempt_in_flight'],
    ['succeeded', { type: 'cancel' } as const, 'ignore', undefined, 'instance_final'],
    ['pending', agentRunning(), 'transition', 'skipped', 'agent_already_running'],
    ['pending', agentRunning({ attemptCount: 1 }), 'ignore', undefined, 'already_attempted'],
    ['in_progress', agentRunning(), 'ignore', undefined, 'already_attempted'],
    ['pending', agentRunning({ rolloutStatus: 'paused' }), 'wait', undefined, 'rollout_paused'],
    ['pending', agentRunning({ rolloutStatus: 'cancelled' }), 'transition', 'cancelled', 'rollout_closed'],
    ['skipped', agentRunning(), 'ignore', undefined, 'instance_final'],
    ['skipped', claim(), 'ignore', undefined, 'instance_final'],
    ['skipped', { type: 'cancel' } as const, 'ignore', undefined, 'instance_final'],
    ['skipped', finished('success'), 'ignore', undefined, 'not_in_progress'],
  ] as const)('from %s on %o decides %s to %s, cause %s (with a reason in words)', (state, event, type, to, cause) => {
    const decision = decideInstance(state, event);
    expect(decision).toMatchObject({ type, cause, ...(to ? { to } : {}) });
    expect(decision.reason).toMatch(/\w/);
  });

  it('has a cause for every documented transition and no other', () => {
    expect(Object.keys(InstanceTransitionCause).sort()).toEqual([
      'agent_already_running',
      'attempt_started',
      'fleet_wide_error',
      'install_succeeded',
      'permanent_failure',
      'previous_attempt_abandoned',
      'retries_exhausted',
      'rollout_cancelled',
      'rollout_closed',
      'timed_out',
      'transient_failure',
    ]);
  });

  it('has exactly the six documented states, skipped a final one', () => {
    expect([...INSTANCE_STATES].sort()).toEqual([
      'cancelled',
      'failed',
      'in_progress',
      'pending',
      'skipped',
      'succeeded',
    ]);
    expect(FINAL_INSTANCE_STATES).toContain('skipped');
  });
});

describe('rollout state machine', () => {
  it('pauses, resumes and cancels only from the allowed states', () => {
    expect(decideRollout('running', { type: 'pause', reason: 'operator' })).toMatchObject({
      type: 'transition',
      to: 'paused',
    });
    expect(decideRollout('paused', { type: 'pause', reason: 'operator' })).toEqual({
      type: 'unchanged',
      status: 'paused',
    });
    expect(decideRollout('completed', { type: 'pause', reason: 'operator' }).type).toBe('refuse');
    expect(decideRollout('paused', { type: 'resume' })).toMatchObject({ type: 'transition', to: 'running' });
    expect(decideRollout('cancelled', { type: 'resume' }).type).toBe('refuse');
    expect(decideRollout('paused', { type: 'cancel', reason: 'operator' })).toMatchObject({
      type: 'transition',
      to: 'cancelled',
    });
    expect(decideRollout('completed', { type: 'cancel', reason: 'operator' }).type).toBe('refuse');
  });

  it('completes a running, paused or waiting rollout once every instance is final, and nothing else', () => {
    for (const status of ROLLOUT_STATUSES) {
      const d = decideRollout(status, { type: 'all_instances_final' });
      // waiting_for_window: the calls in flight when its window closed were the last.
      if (status === 'running' || status === 'paused' || status === 'waiting_for_window')
        expect(d).toMatchObject({ type: 'transition', to: 'completed' });
      else expect(d).toEqual({ type: 'unchanged', status });
    }
  });
});
