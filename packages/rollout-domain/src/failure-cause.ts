/**
 * Why instances failed, in groups an operator can act on: the same error for 3,000 instances is one line of a
 * report, not 3,000. A cause is the error code plus the error message with everything instance-specific (ids,
 * UUIDs, numbers, quoted values) replaced by placeholders. Pure, no I/O.
 */

/** Replacements applied in order: the most specific patterns first, so a UUID is not eaten as numbers. */
const PLACEHOLDERS: readonly [RegExp, string][] = [
  [/"[^"]*"|'[^']*'|`[^`]*`/g, '<value>'],
  [/\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b/gi, '<uuid>'],
  [/\bi-[a-z0-9]+\b/g, '<instance>'],
  [/\b\d{4}-\d{2}-\d{2}T[\d:.]+Z?\b/g, '<time>'],
  [/\b\d+(\.\d+)?\b/g, '<n>'],
];

/** Most characters of a message kept in a cause; error texts can be long and the head says what happened. */
const MAX_MESSAGE_CHARS = 300;

/** The message with instance-specific parts replaced, whitespace collapsed, and cut to a bounded length. */
export function normaliseErrorMessage(message: string | null | undefined): string {
  if (!message) return '';
  let text = message;
  for (const [pattern, placeholder] of PLACEHOLDERS) text = text.replace(pattern, placeholder);
  text = text.replace(/\s+/g, ' ').trim();
  return text.length > MAX_MESSAGE_CHARS ? `${text.slice(0, MAX_MESSAGE_CHARS)}...` : text;
}

/** The facts of one instance a cause is derived from (a failed install, or a failed verification). */
export type FailureFacts = {
  state: string;
  lastErrorCode: string | null;
  lastErrorMessage: string | null;
  verification: string | null;
  agentStatus: string | null;
  manualInstallReason: string | null;
};

export type FailureKind = 'install_failed' | 'verification_failed';

export type FailureCause = {
  /** Group key: `<errorCode>: <normalised message>`. Stable across instances and runs; the retry API takes it. */
  cause: string;
  kind: FailureKind;
  errorCode: string;
  normalisedMessage: string;
};

/**
 * The cause of a failed instance. A failed NodeInstall is its last error; an install that succeeded but whose
 * agent never came up is its agent status (`agent:install_faild`), since there was no error code.
 */
export function failureCauseOf(facts: FailureFacts): FailureCause {
  if (facts.state !== 'failed' && facts.verification === 'failed') {
    const errorCode = `agent:${facts.agentStatus ?? 'unknown'}`;
    const normalisedMessage = verificationMessage(facts.manualInstallReason, facts.agentStatus);
    return { cause: `${errorCode}: ${normalisedMessage}`, kind: 'verification_failed', errorCode, normalisedMessage };
  }
  const errorCode = facts.lastErrorCode ?? 'none';
  const normalisedMessage = normaliseErrorMessage(facts.lastErrorMessage) || '(no message)';
  return { cause: `${errorCode}: ${normalisedMessage}`, kind: 'install_failed', errorCode, normalisedMessage };
}

function verificationMessage(reason: string | null, agentStatus: string | null): string {
  switch (reason) {
    case 'install_failed_on_host':
      return 'NodeInstall succeeded but the agent failed to install on the host';
    case 'agent_not_running':
      return `NodeInstall succeeded but the agent did not report running within the verification window (last status ${agentStatus ?? 'unknown'})`;
    case 'instance_not_found':
      return 'NodeInstall succeeded but NodeStatus does not know the instance';
    case 'cloud_assistant_missing':
      return 'InstallMonitoringAgent succeeded but the host has no Cloud Assistant client (AutoInstall false), so the agent was never installed';
    default:
      return `NodeInstall succeeded but verification failed (${reason ?? 'unknown reason'})`;
  }
}

/**
 * What an operator should do, per manual-install reason. Reasons the report does not know fall back to the
 * client's recommendation for the last call's outcome kind (see `recommendedAction` in @fleet/cms-client).
 */
export const MANUAL_INSTALL_ACTIONS: Readonly<Record<string, string>> = Object.freeze({
  no_server_guard_agent:
    'Log on to each instance and install the CloudMonitor agent by hand: ' +
    'Server Guard (Aegis) is not installed or not online, so NodeInstall cannot reach it. ' +
    'Or bring Server Guard online, then retry these instances.',
  install_failed_on_host:
    'NodeInstall was accepted but the agent failed to install on the host (install_faild): log on, ' +
    'check disk space, network access to CloudMonitor and OS support, install the agent by hand, ' +
    'then resolve the flag.',
  agent_not_running:
    'NodeInstall was accepted but the agent never reported running: log on, start or reinstall the agent by hand, then resolve the flag so it is re-verified.',
  cloud_assistant_missing:
    'The host has no Cloud Assistant client, through which InstallMonitoringAgent installs the agent: ' +
    'install the Cloud Assistant client on the instance first, then retry these instances; ' +
    'or log on and install the CloudMonitor agent by hand, then resolve the flag.',
  instance_not_found:
    'Check the instance id, the account (UserId) and the region: ' +
    'CloudMonitor does not know this instance. Correct the list, ' +
    'or close the flag if the instance is gone.',
  permission_denied:
    'Fix the AccessKey or its RAM permissions for CloudMonitor (credentials, signature or access were refused), then retry these instances.',
  rejected:
    'CloudMonitor refused the request for this instance: read the error message, ' +
    'correct the cause or install the agent by hand, quoting the RequestId to support.',
  timed_out:
    "No final answer within the rollout's per-instance time limit (instanceTimeoutMs): " +
    'retry these instances with a longer limit or a lower concurrency, or install by hand.',
  retries_exhausted:
    'Transient errors (throttling, 5xx, timeouts) persisted through every attempt: ' +
    'retry these instances later with a lower concurrency; install by hand if it repeats.',
});

export function manualInstallAction(reason: string | null | undefined): string | null {
  return reason ? (MANUAL_INSTALL_ACTIONS[reason] ?? null) : null;
}
