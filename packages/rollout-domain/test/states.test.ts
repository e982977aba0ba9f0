import { describe, expect, it } from 'vitest';
import { decideInstance, decideRollout, FINAL_INSTANCE_STATES, INSTANCE_STATES, ROLLOUT_STATUSES } from '../src/index.ts';

describe('instance state machine', () => {
  it('claims a pending instance into in_progress', () => {
    expect(decideInstance('pending', { type: 'claim', previousAttemptStale: true })).toEqual({
      type: 'transition',
      from: 'pending',
      to: 'in_progress',
      reason: 'attempt started',
    });
  });

  it('waits while another attempt on an in_progress instance may still be in flight', () => {
    expect(decideInstance('in_progress', { type: 'claim', previousAttemptStale: false }).type).toBe('wait');
  });

  it('takes over an in_progress instance whose attempt is stale', () => {
    const d = decideInstance('in_progress', { type: 'claim', previousAttemptStale: true });
    expect(d).toMatchObject({ type: 'transition', from: 'in_progress', to: 'in_progress' });
  });

  it.each(FINAL_INSTANCE_STATES)('never leaves the final state %s, whatever the event', (state) => {
    expect(decideInstance(state, { type: 'claim', previousAttemptStale: true }).type).toBe('ignore');
    expect(decideInstance(state, { type: 'attempt_finished', outcome: 'success', attemptNo: 1, maxAttempts: 3 }).type).toBe('ignore');
    expect(decideInstance(state, { type: 'cancel' }).type).toBe('ignore');
  });

  it('maps attempt outcomes: success -> succeeded, final -> failed', () => {
    expect(decideInstance('in_progress', { type: 'attempt_finished', outcome: 'success', attemptNo: 1, maxAttempts: 3 })).toMatchObject({ to: 'succeeded' });
    expect(decideInstance('in_progress', { type: 'attempt_finished', outcome: 'final', attemptNo: 1, maxAttempts: 3 })).toMatchObject({ to: 'failed' });
  });

  it('sends a retryable failure back to pending while attempts remain, and fails it on the last attempt', () => {
    expect(decideInstance('in_progress', { type: 'attempt_finished', outcome: 'retryable', attemptNo: 2, maxAttempts: 3 })).toMatchObject({ to: 'pending' });
    expect(decideInstance('in_progress', { type: 'attempt_finished', outcome: 'retryable', attemptNo: 3, maxAttempts: 3 })).toMatchObject({
      to: 'failed',
      reason: 'retries exhausted',
    });
  });

  it('ignores an attempt answer for an instance that is not in_progress (late duplicate)', () => {
    expect(decideInstance('pending', { type: 'attempt_finished', outcome: 'success', attemptNo: 1, maxAttempts: 3 }).type).toBe('ignore');
  });

  it('cancels pending instances but lets a running call finish first', () => {
    expect(decideInstance('pending', { type: 'cancel' })).toMatchObject({ type: 'transition', to: 'cancelled' });
    expect(decideInstance('in_progress', { type: 'cancel' }).type).toBe('wait');
  });

  it('has exactly the five documented states', () => {
    expect([...INSTANCE_STATES].sort()).toEqual(['cancelled', 'failed', 'in_progress', 'pending', 'succeeded']);
  });
});

describe('rollout state machine', () => {
  it('pauses, resumes and cancels only from the allowed states', () => {
    expect(decideRollout('running', { type: 'pause', reason: 'operator' })).toMatchObject({ type: 'transition', to: 'paused' });
    expect(decideRollout('paused', { type: 'pause', reason: 'operator' })).toEqual({ type: 'unchanged', status: 'paused' });
    expect(decideRollout('completed', { type: 'pause', reason: 'operator' }).type).toBe('refuse');
    expect(decideRollout('paused', { type: 'resume' })).toMatchObject({ type: 'transition', to: 'running' });
    expect(decideRollout('cancelled', { type: 'resume' }).type).toBe('refuse');
    expect(decideRollout('paused', { type: 'cancel', reason: 'operator' })).toMatchObject({ type: 'transition', to: 'cancelled' });
    expect(decideRollout('completed', { type: 'cancel', reason: 'operator' }).type).toBe('refuse');
  });

  it('completes a running or paused rollout once every instance is final, and nothing else', () => {
    for (const status of ROLLOUT_STATUSES) {
      const d = decideRollout(status, { type: 'all_instances_final' });
      if (status === 'running' || status === 'paused') expect(d).toMatchObject({ type: 'transition', to: 'completed' });
      else expect(d).toEqual({ type: 'unchanged', status });
    }
  });
});
