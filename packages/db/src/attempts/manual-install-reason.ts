import { assertNever } from '@fleet/errors';
import type { InstanceTransitionCause } from '@fleet/rollout-domain';

/**
 * What an instance that moved for `cause` is flagged for manual install with (null: not flagged). A timeout names
 * itself; a failure on an answer keeps the reason the worker read from that answer (`given`); nothing else flags.
 */
export function manualInstallReasonAfter(cause: InstanceTransitionCause, given: string | null): string | null {
  switch (cause) {
    case 'timed_out':
      return 'timed_out';
    case 'permanent_failure':
    case 'retries_exhausted':
      return given;
    case 'attempt_started':
    case 'previous_attempt_abandoned':
    case 'rollout_closed':
    case 'rollout_cancelled':
    case 'install_succeeded':
    case 'transient_failure':
    case 'fleet_wide_error':
    case 'agent_already_running': // a skipped instance is no failure: never flagged
      return null;
    default:
      return assertNever(cause, 'instance transition cause');
  }
}
