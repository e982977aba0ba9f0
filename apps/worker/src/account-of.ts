import type { AccountCalling, AccountClients } from '@fleet/accounts';
import { AccountUnusableError } from '@fleet/accounts';
import type { Logger } from '@fleet/logger';
import type { RolloutControlDeps } from '@fleet/rollout-control';
import { pauseRollout } from '@fleet/rollout-control';
import { persistThroughOutage } from './persist-through-outage.ts';
import type { RolloutCache, RolloutSettings } from './rollout-cache.ts';

/**
 * The account's client for a job, or null when the account's calls cannot be made at all (no key to open its
 * credentials, its endpoint not allowed: AccountUnusableError): like a fleet-wide answer, that pauses the rollout
 * with the reason in its statusReason, and the job waits for the resume (after the account is fixed).
 */
export async function accountOf(
  deps: { accounts: AccountClients; control: RolloutControlDeps; rollouts: RolloutCache },
  rollout: RolloutSettings,
  log: Logger,
): Promise<AccountCalling | null> {
  try {
    return await persistThroughOutage('reading the account', log, () => deps.accounts.current(rollout.userId));
  } catch (error) {
    if (!(error instanceof AccountUnusableError)) throw error;
    log.warn('the account cannot be called; pausing the rollout', { code: error.code, error: error.message });
    await persistThroughOutage('pausing the rollout', log, () =>
      pauseRollout(deps.control, rollout.id, `fleet-wide error ${error.code}: ${error.message}`.slice(0, 500), {
        kind: 'fleet_wide_error',
        code: error.code,
      }),
    );
    deps.rollouts.invalidate(rollout.id);
    return null;
  }
}
