/**
 * Why an instance needs a person to log on and install the agent by hand. Categories, not free text, so reports
 * can group by them; the attempt rows keep the exact error and RequestId to quote to support.
 */
export const ManualInstallReason = {
  no_server_guard_agent: 'no_server_guard_agent',
  install_failed_on_host: 'install_failed_on_host',
  instance_not_found: 'instance_not_found',
  permission_denied: 'permission_denied',
  rejected: 'rejected',
  retries_exhausted: 'retries_exhausted',
  timed_out: 'timed_out',
} as const;
export type ManualInstallReason = (typeof ManualInstallReason)[keyof typeof ManualInstallReason];

export type FailedCallFacts = {
  /** The client's classification of the last call: final, fleet_wide, retryable, throttled, resign. */
  outcomeKind: string;
  errorCode: string | null;
  errorMessage: string | null;
  httpStatus: number | null;
  /** True when the instance failed because it ran out of attempts on transient errors. */
  retriesExhausted: boolean;
};

export function manualInstallReasonFor(facts: FailedCallFacts): ManualInstallReason {
  if (facts.retriesExhausted) return 'retries_exhausted';
  const code = facts.errorCode ?? '';
  if (facts.httpStatus === 404 || code === '404' || /NotFound/i.test(code)) return 'instance_not_found';
  if (
    facts.outcomeKind === 'fleet_wide' ||
    facts.httpStatus === 403 ||
    code === '403' ||
    /Forbidden|AccessKey|Signature/i.test(code)
  ) {
    return 'permission_denied';
  }
  if (/server ?guard|aegis/i.test(facts.errorMessage ?? '')) return 'no_server_guard_agent';
  return 'rejected';
}
