/**
 * The rollout and instance state machines: every state, every allowed transition, decided by pure functions.
 * Nothing here does I/O; callers persist a decision with a guarded write (`WHERE state = from`).
 *
 * Instance transitions:
 *   pending      --claim (rollout running)-->          in_progress  (a worker starts a NodeInstall call)
 *   in_progress  --claim (previous attempt stale)-->   in_progress  (its worker died; that attempt is abandoned)
 *   pending | stale in_progress --claim (instance timeout passed)--> failed   (timed out)
 *   pending | stale in_progress --claim (rollout cancelled)-->       cancelled
 *   in_progress  --attempt success-->                  succeeded
 *   in_progress  --attempt final-->                    failed
 *   in_progress  --attempt retryable-->                pending      (attempts and time left: retried after a backoff)
 *   in_progress  --attempt retryable-->                failed       (no attempts or no time left)
 *   in_progress  --attempt deferred-->                 pending      (fleet-wide error: not this instance's fault, not counted)
 *   in_progress  --attempt retryable|deferred (rollout cancelled)--> cancelled
 *   pending      --cancel-->                           cancelled    (a running call is never cut off; it finishes first)
 *   succeeded | failed | cancelled: final, nothing leaves them.
 *
 * Rollout transitions:
 *   running --pause--> paused          paused --resume--> running
 *   running | paused --cancel--> cancelled
 *   running | paused --all instances final--> completed
 *   completed | cancelled: final.
 */
import { assertNever } from '@fleet/errors';

export const InstanceState = {
  pending: 'pending',
  in_progress: 'in_progress',
  succeeded: 'succeeded',
  failed: 'failed',
  cancelled: 'cancelled',
} as const;
export type InstanceState = (typeof InstanceState)[keyof typeof InstanceState];
export const INSTANCE_STATES = Object.values(InstanceState);
export const FINAL_INSTANCE_STATES: readonly InstanceState[] = ['succeeded', 'failed', 'cancelled'];
export const OPEN_INSTANCE_STATES: readonly InstanceState[] = ['pending', 'in_progress'];

export const RolloutStatus = {
  running: 'running',
  paused: 'paused',
  completed: 'completed',
  cancelled: 'cancelled',
} as const;
export type RolloutStatus = (typeof RolloutStatus)[keyof typeof RolloutStatus];
export const ROLLOUT_STATUSES = Object.values(RolloutStatus);

export function isFinalInstanceState(state: InstanceState): boolean {
  return FINAL_INSTANCE_STATES.includes(state);
}

export function isFinalRolloutStatus(status: RolloutStatus): boolean {
  return status === 'completed' || status === 'cancelled';
}

/**
 * What one NodeInstall call came to, as far as the instance is concerned. `deferred`: a fleet-wide error (bad
 * credentials, signature, Forbidden) that says nothing about this instance; the rollout pauses instead.
 */
export type AttemptOutcomeClass = 'success' | 'retryable' | 'final';
export type AttemptVerdict = AttemptOutcomeClass | 'deferred';

export type InstanceEvent =
  | { type: 'claim'; previousAttemptStale: boolean; rolloutStatus: RolloutStatus; timedOut: boolean }
  | {
      type: 'attempt_finished';
      outcome: AttemptVerdict;
      attemptNo: number;
      maxAttempts: number;
      rolloutStatus: RolloutStatus;
      timedOut: boolean;
    }
  | { type: 'cancel' };

export type InstanceDecision =
  | { type: 'transition'; from: InstanceState; to: InstanceState; reason: string }
  /** Nothing to do: the event is late or duplicate (at-least-once delivery), and the state already says enough. */
  | { type: 'ignore'; reason: string }
  /** Not now: a call may be in flight, or the rollout is paused; look again later. */
  | { type: 'wait'; reason: string };

export function decideInstance(state: InstanceState, event: InstanceEvent): InstanceDecision {
  switch (event.type) {
    case 'claim': {
      if (isFinalInstanceState(state)) return { type: 'ignore', reason: `instance already ${state}` };
      const callMayBeInFlight = state === 'in_progress' && !event.previousAttemptStale;
      if (callMayBeInFlight) return { type: 'wait', reason: 'an attempt is in flight' };
      if (isFinalRolloutStatus(event.rolloutStatus))
        return { type: 'transition', from: state, to: 'cancelled', reason: `rollout ${event.rolloutStatus}` };
      if (event.rolloutStatus === 'paused') return { type: 'wait', reason: 'rollout paused' };
      if (event.timedOut) return { type: 'transition', from: state, to: 'failed', reason: 'instance timed out' };
      return {
        type: 'transition',
        from: state,
        to: 'in_progress',
        reason: state === 'pending' ? 'attempt started' : 'previous attempt abandoned',
      };
    }
    case 'attempt_finished': {
      if (state !== 'in_progress') return { type: 'ignore', reason: `instance is ${state}, not in_progress` };
      const cancelled = isFinalRolloutStatus(event.rolloutStatus);
      switch (event.outcome) {
        case 'success':
          return { type: 'transition', from: state, to: 'succeeded', reason: 'NodeInstall succeeded' };
        case 'final':
          return { type: 'transition', from: state, to: 'failed', reason: 'permanent failure' };
        case 'deferred':
          return cancelled
            ? { type: 'transition', from: state, to: 'cancelled', reason: `rollout ${event.rolloutStatus}` }
            : {
                type: 'transition',
                from: state,
                to: 'pending',
                reason: 'fleet-wide error, waits for the rollout to resume',
              };
        case 'retryable':
          if (cancelled)
            return { type: 'transition', from: state, to: 'cancelled', reason: `rollout ${event.rolloutStatus}` };
          if (event.timedOut) return { type: 'transition', from: state, to: 'failed', reason: 'instance timed out' };
          return event.attemptNo < event.maxAttempts
            ? { type: 'transition', from: state, to: 'pending', reason: 'transient failure, will retry' }
            : { type: 'transition', from: state, to: 'failed', reason: 'retries exhausted' };
        default:
          return assertNever(event.outcome, 'attempt outcome');
      }
    }
    case 'cancel':
      if (state === 'pending') return { type: 'transition', from: state, to: 'cancelled', reason: 'rollout cancelled' };
      if (state === 'in_progress') return { type: 'wait', reason: 'a call is in flight; it finishes first' };
      return { type: 'ignore', reason: `instance already ${state}` };
    default:
      return assertNever(event, 'instance event');
  }
}

export type RolloutEvent =
  | { type: 'pause'; reason: string }
  | { type: 'resume' }
  | { type: 'cancel'; reason: string }
  | { type: 'all_instances_final' };

export type RolloutDecision =
  | { type: 'transition'; from: RolloutStatus; to: RolloutStatus; reason: string | null }
  /** Already where the event would take it: idempotent success. */
  | { type: 'unchanged'; status: RolloutStatus }
  /** Not allowed from here (the API answers 409). */
  | { type: 'refuse'; status: RolloutStatus; reason: string };

export function decideRollout(status: RolloutStatus, event: RolloutEvent): RolloutDecision {
  switch (event.type) {
    case 'pause':
      if (status === 'running') return { type: 'transition', from: status, to: 'paused', reason: event.reason };
      if (status === 'paused') return { type: 'unchanged', status };
      return { type: 'refuse', status, reason: `a ${status} rollout cannot be paused` };
    case 'resume':
      if (status === 'paused') return { type: 'transition', from: status, to: 'running', reason: null };
      if (status === 'running') return { type: 'unchanged', status };
      return { type: 'refuse', status, reason: `a ${status} rollout cannot be resumed` };
    case 'cancel':
      if (status === 'running' || status === 'paused')
        return { type: 'transition', from: status, to: 'cancelled', reason: event.reason };
      if (status === 'cancelled') return { type: 'unchanged', status };
      return { type: 'refuse', status, reason: `a ${status} rollout cannot be cancelled` };
    case 'all_instances_final':
      if (status === 'running' || status === 'paused')
        return { type: 'transition', from: status, to: 'completed', reason: null };
      return { type: 'unchanged', status };
    default:
      return assertNever(event, 'rollout event');
  }
}
