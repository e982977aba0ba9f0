/**
 * The rollout and instance state machines: every state, every allowed transition, decided by pure functions.
 * Nothing here does I/O; callers persist a decision with a guarded write (`WHERE state = from`).
 *
 * Instance transitions, [with the cause a decision names]:
 *   pending      --claim (rollout running)-->          in_progress  [attempt_started] (a worker starts a NodeInstall call)
 *   in_progress  --claim (previous attempt stale)-->   in_progress  [previous_attempt_abandoned] (its worker died)
 *   pending | stale in_progress --claim (instance timeout passed)--> failed     [timed_out]
 *   pending | stale in_progress --claim (rollout cancelled)-->       cancelled  [rollout_closed]
 *   in_progress  --attempt success-->                  succeeded    [install_succeeded]
 *   in_progress  --attempt final-->                    failed       [permanent_failure]
 *   in_progress  --attempt retryable-->                pending      [transient_failure] (attempts and time left: retried after a backoff)
 *   in_progress  --attempt retryable-->                failed       [retries_exhausted | timed_out] (no attempts or no time left)
 *   in_progress  --attempt deferred-->                 pending      [fleet_wide_error] (not this instance's fault, not counted)
 *   in_progress  --attempt retryable|deferred (rollout cancelled)--> cancelled  [rollout_closed]
 *   pending      --cancel-->                           cancelled    [rollout_cancelled] (a running call is never cut off; it finishes first)
 *   pending      --agent running (skipInstalled, no attempt yet, rollout running)--> skipped [agent_already_running]
 *                                                      (a status check before the first NodeInstall found the agent running:
 *                                                      no NodeInstall is made; not a failure, never flagged)
 *   succeeded | failed | cancelled | skipped: final, nothing leaves them.
 *
 * Rollout transitions:
 *   running --pause--> paused          paused --resume--> running
 *   scheduled | waiting_for_window --pause--> paused
 *   running | paused | scheduled | waiting_for_window --cancel--> cancelled
 *   running | paused | waiting_for_window --all instances final--> completed
 *   scheduled | waiting_for_window --start (startAt reached and inside a window, or start-now)--> running
 *   running --window closes (its cutoff reached, schedule.ts)--> waiting_for_window (in-flight calls finish)
 *   scheduled --startAt reached outside every window--> waiting_for_window
 *   completed | cancelled: final. A schedule's endAt pauses or cancels (the pause and cancel events), a paused
 *   rollout too (cancel cancels it; pause keeps it paused and marks the end applied).
 *   A new rollout is `scheduled` when its schedule holds a future startAt or windows, else `running`.
 */
import { assertNever } from '@fleet/errors';

export const InstanceState = {
  pending: 'pending',
  in_progress: 'in_progress',
  succeeded: 'succeeded',
  failed: 'failed',
  cancelled: 'cancelled',
  /** The agent already ran (skipInstalled): no NodeInstall was made. */
  skipped: 'skipped',
} as const;
export type InstanceState = (typeof InstanceState)[keyof typeof InstanceState];
export const INSTANCE_STATES = Object.values(InstanceState);
export const FINAL_INSTANCE_STATES: readonly InstanceState[] = ['succeeded', 'failed', 'cancelled', 'skipped'];
export const OPEN_INSTANCE_STATES: readonly InstanceState[] = ['pending', 'in_progress'];

export const RolloutStatus = {
  running: 'running',
  paused: 'paused',
  completed: 'completed',
  cancelled: 'cancelled',
  /** Its schedule's startAt is ahead (or its windows not yet looked at): no call starts. */
  scheduled: 'scheduled',
  /** Outside every maintenance window: no call starts until `nextWindowAt` (in-flight calls finish). */
  waiting_for_window: 'waiting_for_window',
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
  | {
      type: 'claim';
      previousAttemptStale: boolean;
      rolloutStatus: RolloutStatus;
      timedOut: boolean;
      /** The rollout's window admits no new call now (its callsUntil passed). Default false. */
      outsideWindow?: boolean;
    }
  | {
      type: 'attempt_finished';
      outcome: AttemptVerdict;
      attemptNo: number;
      maxAttempts: number;
      rolloutStatus: RolloutStatus;
      timedOut: boolean;
    }
  | { type: 'cancel' }
  /** A status check before any NodeInstall (skipInstalled) found the agent running. */
  | { type: 'agent_running'; attemptCount: number; rolloutStatus: RolloutStatus };

/**
 * Why an instance moves, as code branches on it (exhaustive `switch` with assertNever); a decision's `reason` says the
 * same in words, for logs and people, and is never compared.
 */
export const InstanceTransitionCause = {
  /** pending -> in_progress: a worker starts a call. */
  attempt_started: 'attempt_started',
  /** in_progress -> in_progress: the previous attempt's worker died; a new attempt (or a replay) takes over. */
  previous_attempt_abandoned: 'previous_attempt_abandoned',
  /** -> cancelled: the rollout is over (cancelled, or completed around this instance). */
  rollout_closed: 'rollout_closed',
  /** -> cancelled: the cancel event reached a pending instance. */
  rollout_cancelled: 'rollout_cancelled',
  /** -> failed: the instance's in-progress timeout passed. */
  timed_out: 'timed_out',
  /** -> succeeded. */
  install_succeeded: 'install_succeeded',
  /** -> failed: an answer that no retry can change. */
  permanent_failure: 'permanent_failure',
  /** -> failed: a transient failure on the last attempt. */
  retries_exhausted: 'retries_exhausted',
  /** -> pending: a transient failure with attempts left. */
  transient_failure: 'transient_failure',
  /** -> pending: a fleet-wide error, not this instance's fault and not counted; waits for the rollout to resume. */
  fleet_wide_error: 'fleet_wide_error',
  /** pending -> skipped: the agent already runs (skipInstalled), so no NodeInstall is made. */
  agent_already_running: 'agent_already_running',
} as const;
export type InstanceTransitionCause = (typeof InstanceTransitionCause)[keyof typeof InstanceTransitionCause];

/** Why an event changes nothing: the instance is final, or (for an answer) no longer in_progress. */
export type InstanceIgnoreCause = 'instance_final' | 'not_in_progress' | 'already_attempted';
/** Why an event must wait: a call may be in flight, or the rollout is paused. */
export type InstanceWaitCause = 'attempt_in_flight' | 'rollout_paused' | 'outside_window';

export type InstanceDecision =
  | { type: 'transition'; from: InstanceState; to: InstanceState; cause: InstanceTransitionCause; reason: string }
  /** Nothing to do: the event is late or duplicate (at-least-once delivery), and the state already says enough. */
  | { type: 'ignore'; cause: InstanceIgnoreCause; reason: string }
  /** Not now: a call may be in flight, or the rollout is paused; look again later. */
  | { type: 'wait'; cause: InstanceWaitCause; reason: string };

const move = (
  from: InstanceState,
  to: InstanceState,
  cause: InstanceTransitionCause,
  reason: string,
): InstanceDecision => ({ type: 'transition', from, to, cause, reason });

export function decideInstance(state: InstanceState, event: InstanceEvent): InstanceDecision {
  switch (event.type) {
    case 'claim': {
      if (isFinalInstanceState(state))
        return { type: 'ignore', cause: 'instance_final', reason: `instance already ${state}` };
      const callMayBeInFlight = state === 'in_progress' && !event.previousAttemptStale;
      if (callMayBeInFlight) return { type: 'wait', cause: 'attempt_in_flight', reason: 'an attempt is in flight' };
      if (isFinalRolloutStatus(event.rolloutStatus))
        return move(state, 'cancelled', 'rollout_closed', `rollout ${event.rolloutStatus}`);
      if (event.rolloutStatus === 'paused') return { type: 'wait', cause: 'rollout_paused', reason: 'rollout paused' };
      if (event.rolloutStatus !== 'running' || event.outsideWindow)
        return { type: 'wait', cause: 'outside_window', reason: 'no call starts outside a maintenance window' };
      if (event.timedOut) return move(state, 'failed', 'timed_out', 'instance timed out');
      return state === 'pending'
        ? move(state, 'in_progress', 'attempt_started', 'attempt started')
        : move(state, 'in_progress', 'previous_attempt_abandoned', 'previous attempt abandoned');
    }
    case 'attempt_finished': {
      if (state !== 'in_progress')
        return { type: 'ignore', cause: 'not_in_progress', reason: `instance is ${state}, not in_progress` };
      const cancelled = isFinalRolloutStatus(event.rolloutStatus);
      switch (event.outcome) {
        case 'success':
          return move(state, 'succeeded', 'install_succeeded', 'NodeInstall succeeded');
        case 'final':
          return move(state, 'failed', 'permanent_failure', 'permanent failure');
        case 'deferred':
          return cancelled
            ? move(state, 'cancelled', 'rollout_closed', `rollout ${event.rolloutStatus}`)
            : move(state, 'pending', 'fleet_wide_error', 'fleet-wide error, waits for the rollout to resume');
        case 'retryable':
          if (cancelled) return move(state, 'cancelled', 'rollout_closed', `rollout ${event.rolloutStatus}`);
          if (event.timedOut) return move(state, 'failed', 'timed_out', 'instance timed out');
          return event.attemptNo < event.maxAttempts
            ? move(state, 'pending', 'transient_failure', 'transient failure, will retry')
            : move(state, 'failed', 'retries_exhausted', 'retries exhausted');
        default:
          return assertNever(event.outcome, 'attempt outcome');
      }
    }
    case 'cancel':
      if (state === 'pending') return move(state, 'cancelled', 'rollout_cancelled', 'rollout cancelled');
      if (state === 'in_progress')
        return { type: 'wait', cause: 'attempt_in_flight', reason: 'a call is in flight; it finishes first' };
      return { type: 'ignore', cause: 'instance_final', reason: `instance already ${state}` };
    case 'agent_running':
      if (isFinalInstanceState(state))
        return { type: 'ignore', cause: 'instance_final', reason: `instance already ${state}` };
      // Only before the first NodeInstall: once one was made, its answer decides.
      if (state !== 'pending' || event.attemptCount > 0)
        return { type: 'ignore', cause: 'already_attempted', reason: 'a NodeInstall was already made' };
      if (isFinalRolloutStatus(event.rolloutStatus))
        return move(state, 'cancelled', 'rollout_closed', `rollout ${event.rolloutStatus}`);
      if (event.rolloutStatus !== 'running')
        return { type: 'wait', cause: 'rollout_paused', reason: `rollout ${event.rolloutStatus}` };
      return move(state, 'skipped', 'agent_already_running', 'the agent already runs');
    default:
      return assertNever(event, 'instance event');
  }
}

export type RolloutEvent =
  | { type: 'pause'; reason: string }
  /** `reason`: the operator's words (POST .../resume), kept as the rollout's statusReason and in rollout.resumed. */
  | { type: 'resume'; reason?: string | null }
  | { type: 'cancel'; reason: string }
  | { type: 'all_instances_final' }
  /** The schedule lets calls start (startAt reached inside a window, a window opened, or start-now). */
  | { type: 'start'; reason?: string | null }
  /** The schedule stops new calls (a window's cutoff, or startAt reached outside every window). */
  | { type: 'wait_for_window' };

/** Open: not completed or cancelled (running, paused, scheduled, waiting_for_window). */
export const OPEN_ROLLOUT_STATUSES: readonly RolloutStatus[] = ['running', 'paused', 'scheduled', 'waiting_for_window'];

export type RolloutDecision =
  | { type: 'transition'; from: RolloutStatus; to: RolloutStatus; reason: string | null }
  /** Already where the event would take it: idempotent success. */
  | { type: 'unchanged'; status: RolloutStatus }
  /** Not allowed from here (the API answers 409). */
  | { type: 'refuse'; status: RolloutStatus; reason: string };

export function decideRollout(status: RolloutStatus, event: RolloutEvent): RolloutDecision {
  switch (event.type) {
    case 'pause':
      if (status === 'running' || status === 'scheduled' || status === 'waiting_for_window')
        return { type: 'transition', from: status, to: 'paused', reason: event.reason };
      if (status === 'paused') return { type: 'unchanged', status };
      return { type: 'refuse', status, reason: `a ${status} rollout cannot be paused` };
    case 'resume':
      if (status === 'paused') return { type: 'transition', from: status, to: 'running', reason: event.reason ?? null };
      if (status === 'running') return { type: 'unchanged', status };
      return { type: 'refuse', status, reason: `a ${status} rollout cannot be resumed` };
    case 'cancel':
      if (!isFinalRolloutStatus(status))
        return { type: 'transition', from: status, to: 'cancelled', reason: event.reason };
      if (status === 'cancelled') return { type: 'unchanged', status };
      return { type: 'refuse', status, reason: `a ${status} rollout cannot be cancelled` };
    case 'all_instances_final':
      if (status === 'running' || status === 'paused' || status === 'waiting_for_window')
        return { type: 'transition', from: status, to: 'completed', reason: null };
      return { type: 'unchanged', status };
    case 'start':
      if (status === 'scheduled' || status === 'waiting_for_window')
        return { type: 'transition', from: status, to: 'running', reason: event.reason ?? null };
      if (status === 'running') return { type: 'unchanged', status };
      return { type: 'refuse', status, reason: `a ${status} rollout cannot be started` };
    case 'wait_for_window':
      if (status === 'running' || status === 'scheduled')
        return { type: 'transition', from: status, to: 'waiting_for_window', reason: null };
      if (status === 'waiting_for_window') return { type: 'unchanged', status };
      return { type: 'refuse', status, reason: `a ${status} rollout does not wait for a window` };
    default:
      return assertNever(event, 'rollout event');
  }
}
