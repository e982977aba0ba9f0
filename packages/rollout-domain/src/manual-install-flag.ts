/**
 * The manual-install flag state machine: a host (account UserId + ECS instance id) that needs a person to log on and
 * install the agent by hand, from the moment the reconciler raises it until an operator has dealt with it. Pure:
 * callers persist a decision with a guarded write (`WHERE status IN (allowed from)`) and an event row named by
 * `action`.
 *
 * One flag per host, not per rollout: a host has at most one flag that is not closed (a unique index enforces it),
 * and every rollout instance of that host that needs a manual install, in the first rollout or in any later one
 * (retries above all), lands on that flag. The rule across rollouts, as an operator would expect it:
 *   - open or acknowledged: the flag is kept and gets the new failure (event `reflagged` naming the rollout and its
 *     instance row; the flag's rollout, reason, detail and RequestId become the latest failure's). An acknowledged
 *     flag stays acknowledged: the person who owns it still owns it, with one more failure in its history.
 *   - resolved: the operator said the agent is installed; a later failure on the host proves otherwise, exactly as
 *     a failed re-verification does, so the same flag is reopened (event `reopened` naming the rollout), its history
 *     showing what was done last time.
 *   - closed: final ("won't fix" for what was known then). Should a later rollout still fail on the host, that is a
 *     new question: a new flag is raised, and the closed one stays as it was.
 * Resolving or closing a flag ends it for the host whatever rollout raised it: a retry leaves out every instance
 * whose host's flag is resolved or closed.
 *
 * Flag transitions:
 *   (none)        --raise-------------------> open          (reconciler: NodeInstall failed for good, or the agent
 *                                                            did not come up after a successful NodeInstall, on a
 *                                                            host with no flag that is not closed)
 *   open          --needed again------------> open          (event `reflagged`: a later rollout failed on the host)
 *   acknowledged  --needed again------------> acknowledged  (event `reflagged`)
 *   resolved      --needed again------------> open          (event `reopened`: a later rollout failed on the host)
 *   open          --acknowledge-------------> acknowledged  (an operator has seen it and owns it)
 *   open | acknowledged --resolve-----------> resolved      (the operator says the agent is installed now; the
 *                                                            reconciler re-verifies it with NodeStatus)
 *   resolved      --reverify passed---------> resolved      (event `reverified`: NodeStatus reports running)
 *   resolved      --reverify failed---------> open          (event `reopened`: the agent is still not running)
 *   open | acknowledged | resolved --close--> closed        (won't fix: decommissioned host, out of scope, ...)
 *   closed: final; "needed again" is ignored here and raises a new flag instead.
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

/**
 * What an event row of a flag's history says happened. `merged`: the migration manual_install_flag_per_host folded
 * the host's duplicate flags (one per rollout, before flags were per host) into this one.
 */
export type ManualFlagAction =
  'flagged' | 'reflagged' | 'acknowledged' | 'resolved' | 'closed' | 'reverified' | 'reopened' | 'merged';

export type ManualFlagEvent =
  | { type: 'acknowledge' }
  | { type: 'resolve' }
  | { type: 'close' }
  /** The reconciler's NodeStatus check after a resolve: the agent runs. */
  | { type: 'reverify_passed' }
  /** The reconciler's NodeStatus check after a resolve: the agent still does not run. */
  | { type: 'reverify_failed' }
  /** The reconciler: another rollout's instance of the flag's host needs a manual install (a retry failed again). */
  | { type: 'needed_again' };

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

/** The statuses of a host's one current flag (the unique index's `WHERE status <> 'closed'`): every one not final. */
export const CURRENT_MANUAL_FLAG_STATUSES = MANUAL_FLAG_STATUSES.filter((status) => !isFinalManualFlagStatus(status));

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
    case 'needed_again':
      if (status === 'open' || status === 'acknowledged')
        return { type: 'transition', from: status, to: status, action: 'reflagged' };
      if (status === 'resolved') return { type: 'transition', from: status, to: 'open', action: 'reopened' };
      return { type: 'ignore', status, reason: 'a closed flag is final: a new flag is raised for the host' };
    default:
      return assertNever(event, 'manual-install flag event');
  }
}

/** The statuses an event may move a flag from: the `WHERE status IN (...)` of its guarded write. */
export function manualFlagStatusesAllowing(event: ManualFlagEvent): ManualFlagStatus[] {
  return MANUAL_FLAG_STATUSES.filter((status) => decideManualFlag(status, event).type === 'transition');
}
