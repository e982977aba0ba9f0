/**
 * The manual-install flag state machine: an instance that needs a person to log on and install the agent by hand,
 * from the moment the reconciler raises it until an operator has dealt with it. Pure: callers persist a decision
 * with a guarded write (`WHERE status IN (allowed from)`) and an event row named by `action`.
 *
 * Flag transitions:
 *   (none)        --raise-------------------> open          (reconciler: NodeInstall failed for good, or the agent
 *                                                            did not come up after a successful NodeInstall)
 *   open          --acknowledge-------------> acknowledged  (an operator has seen it and owns it)
 *   open | acknowledged --resolve-----------> resolved      (the operator says the agent is installed now; the
 *                                                            reconciler re-verifies it with NodeStatus)
 *   resolved      --reverify passed---------> resolved      (event `reverified`: NodeStatus reports running)
 *   resolved      --reverify failed---------> open          (event `reopened`: the agent is still not running)
 *   open | acknowledged | resolved --close--> closed        (won't fix: decommissioned host, out of scope, ...)
 *   closed: final.
 * Repeating the transition that led to the current status (acknowledge an acknowledged flag, ...) is `unchanged`:
 * an idempotent success with no event. Anything else is refused (the API answers 409).
 */
import { assertNever } from '@fleet/errors';

export const ManualFlagStatus = {
  open: 'open',
  acknowledged: 'acknowledged',
  resolved: 'resolved',
  closed: 'closed',
} as const;
export type ManualFlagStatus = (typeof ManualFlagStatus)[keyof typeof ManualFlagStatus];
export const MANUAL_FLAG_STATUSES = Object.values(ManualFlagStatus);

/** What an event row of a flag's history says happened. */
export type ManualFlagAction = 'flagged' | 'acknowledged' | 'resolved' | 'closed' | 'reverified' | 'reopened';

export type ManualFlagEvent =
  | { type: 'acknowledge' }
  | { type: 'resolve' }
  | { type: 'close' }
  /** The reconciler's NodeStatus check after a resolve: the agent runs. */
  | { type: 'reverify_passed' }
  /** The reconciler's NodeStatus check after a resolve: the agent still does not run. */
  | { type: 'reverify_failed' };

export type ManualFlagDecision =
  | { type: 'transition'; from: ManualFlagStatus; to: ManualFlagStatus; action: ManualFlagAction }
  /** Already where the event leads: nothing to write. */
  | { type: 'unchanged'; status: ManualFlagStatus }
  /** Not allowed from this status. */
  | { type: 'refuse'; status: ManualFlagStatus; reason: string }
  /** A late reconciler result about a flag an operator has moved on from (e.g. closed it): nothing to do. */
  | { type: 'ignore'; status: ManualFlagStatus; reason: string };

export function isFinalManualFlagStatus(status: ManualFlagStatus): boolean {
  return status === 'closed';
}

export function decideManualFlag(status: ManualFlagStatus, event: ManualFlagEvent): ManualFlagDecision {
  switch (event.type) {
    case 'acknowledge':
      if (status === 'open') return { type: 'transition', from: status, to: 'acknowledged', action: 'acknowledged' };
      if (status === 'acknowledged') return { type: 'unchanged', status };
      return { type: 'refuse', status, reason: `a ${status} flag cannot be acknowledged` };
    case 'resolve':
      if (status === 'open' || status === 'acknowledged')
        return { type: 'transition', from: status, to: 'resolved', action: 'resolved' };
      if (status === 'resolved') return { type: 'unchanged', status };
      return { type: 'refuse', status, reason: `a ${status} flag cannot be resolved` };
    case 'close':
      if (status === 'open' || status === 'acknowledged' || status === 'resolved')
        return { type: 'transition', from: status, to: 'closed', action: 'closed' };
      return { type: 'unchanged', status };
    case 'reverify_passed':
      if (status === 'resolved') return { type: 'transition', from: status, to: 'resolved', action: 'reverified' };
      return { type: 'ignore', status, reason: `flag is ${status}, not awaiting re-verification` };
    case 'reverify_failed':
      if (status === 'resolved') return { type: 'transition', from: status, to: 'open', action: 'reopened' };
      return { type: 'ignore', status, reason: `flag is ${status}, not awaiting re-verification` };
    default:
      return assertNever(event, 'manual-install flag event');
  }
}

/** The statuses an event may move a flag from: the `WHERE status IN (...)` of its guarded write. */
export function manualFlagStatusesAllowing(event: ManualFlagEvent): ManualFlagStatus[] {
  return MANUAL_FLAG_STATUSES.filter((status) => decideManualFlag(status, event).type === 'transition');
}
