import { FleetError } from '@fleet/errors';

/**
 * Why an account's calls cannot be made at all: every call of it would fail alike, so its rollouts pause with the
 * reason (a fleet-wide error for that account) rather than fail instance by instance.
 * - `encryption_key_missing`: the account has credentials but this process has no FLEET_ENCRYPTION_KEY to open them;
 * - `secret_unreadable`: no configured key opens them (a key removed too early, or a value tampered with);
 * - `endpoint_not_allowed`: its endpoint is outside this process's CMS_ENDPOINT_ALLOWLIST;
 * - `credentials_gone`: the credentials an attempt was signed with were deleted (an exact replay cannot be made).
 */
export type AccountUnusableCode =
  'encryption_key_missing' | 'secret_unreadable' | 'endpoint_not_allowed' | 'credentials_gone';

export class AccountUnusableError extends FleetError {
  override name = 'AccountUnusableError';
  declare readonly code: AccountUnusableCode;
  constructor(
    code: AccountUnusableCode,
    readonly userId: string,
    message: string,
    options: { cause?: unknown } = {},
  ) {
    super(code, message, options);
  }
}
