/**
 * Install verification: a NodeInstall that succeeded only means CloudMonitor accepted the request. The agent must
 * then report `running` in NodeStatus within a verification window, or the instance needs a manual install.
 * Pure: the reconciler asks NodeStatusList (driver node-install) or DescribeMonitoringAgentStatuses (driver
 * install-monitoring-agent) and persists the decision with guarded writes.
 *
 * Instance verification (a column next to the instance state, which stays `succeeded`: NodeInstall did succeed):
 *   null     --NodeInstall succeeded-----------------> pending   (deadline = finishedAt + window)
 *   null     --operator resolved its flag-------------> pending   (deadline = armed by the reconciler: now + window)
 *   pending  --NodeStatus running---------------------> verified
 *   pending  --NodeStatus install_faild---------------> failed    (install_failed_on_host, at once: it will not heal)
 *   pending  --not_installed, AutoInstall false, deadline passed, driver install-monitoring-agent
 *                                                   --> failed    (cloud_assistant_missing: InstallMonitoringAgent
 *                                                                  installs through the Cloud Assistant client, which
 *                                                                  the host lacks, so the agent never comes)
 *   pending  --any other status, deadline passed------> failed    (agent_not_running)
 *   pending  --instance left out of the answer, deadline passed--> failed (instance_not_found)
 *   pending  --status call failed for good, deadline passed------> failed (permission_denied / instance_not_found / rejected)
 *   pending  --status call failed transiently---------> pending   (look again next pass, even past the deadline)
 */
import { assertNever } from '@fleet/errors';
import { manualInstallReasonFor } from './manual-install.ts';
import type { ManualInstallReason } from './manual-install.ts';
import type { InstallDriver } from './policy.ts';

export const InstallVerification = {
  pending: 'pending',
  verified: 'verified',
  failed: 'failed',
} as const;
export type InstallVerification = (typeof InstallVerification)[keyof typeof InstallVerification];

/**
 * Manual-install reasons raised by verification. `install_failed_on_host` is also one of ManualInstallReason;
 * `agent_not_running` (the install was accepted, the agent never came up) and `cloud_assistant_missing` (the same,
 * on a host without the Cloud Assistant client InstallMonitoringAgent needs) exist only here.
 */
export type VerificationFailureReason = ManualInstallReason | 'agent_not_running' | 'cloud_assistant_missing';

/** What one NodeStatus(List) lookup of an instance came to. */
export type AgentLookup =
  /**
   * The API reported a status for the instance (normalised NodeStatus spelling, e.g. `install_faild`), and its
   * AutoInstall (false: the host cannot be installed remotely; for DescribeMonitoringAgentStatuses, no Cloud
   * Assistant client). Absent or null: not reported.
   */
  | { kind: 'reported'; agentStatus: string; autoInstall?: boolean | null }
  /** The call succeeded but the instance was not in the answer (CloudMonitor does not know it). */
  | { kind: 'absent' }
  /** The call failed in a way a later call may not: throttled, 5xx, timeout, network. */
  | { kind: 'transient_error'; detail: string }
  /** The call failed for good (the client's `final` or `fleet_wide`). */
  | {
      kind: 'permanent_error';
      outcomeKind: string;
      errorCode: string | null;
      errorMessage: string | null;
      httpStatus: number | null;
    };

export type VerificationDecision =
  | { type: 'verified'; agentStatus: string }
  | { type: 'failed'; reason: VerificationFailureReason; agentStatus: string | null; detail: string }
  /** Not decided yet: record what was seen (`agentStatus`, null when nothing was) and look again next pass. */
  | { type: 'wait'; agentStatus: string | null };

export type VerificationInput = {
  now: Date;
  deadline: Date;
  /** The rollout's install driver: which status call answered, and so what AutoInstall false means. Default node-install. */
  driver?: InstallDriver;
};

export function decideVerification(lookup: AgentLookup, input: VerificationInput): VerificationDecision {
  const pastDeadline = input.now.getTime() >= input.deadline.getTime();
  const statusCall = input.driver === 'install-monitoring-agent' ? 'DescribeMonitoringAgentStatuses' : 'NodeStatus';
  switch (lookup.kind) {
    case 'reported':
      if (lookup.agentStatus === 'running') return { type: 'verified', agentStatus: lookup.agentStatus };
      if (lookup.agentStatus === 'install_faild') {
        return {
          type: 'failed',
          reason: 'install_failed_on_host',
          agentStatus: lookup.agentStatus,
          detail: `${statusCall} reports install_faild: the agent failed to install on the host`,
        };
      }
      if (!pastDeadline) return { type: 'wait', agentStatus: lookup.agentStatus };
      if (
        input.driver === 'install-monitoring-agent' &&
        lookup.agentStatus === 'not_installed' &&
        lookup.autoInstall === false
      ) {
        return {
          type: 'failed',
          reason: 'cloud_assistant_missing',
          agentStatus: lookup.agentStatus,
          detail:
            'DescribeMonitoringAgentStatuses reports not_installed with AutoInstall false after the verification window: ' +
            'the host has no Cloud Assistant client, through which InstallMonitoringAgent installs',
        };
      }
      return {
        type: 'failed',
        reason: 'agent_not_running',
        agentStatus: lookup.agentStatus,
        detail: `${statusCall} still reports ${lookup.agentStatus} after the verification window (deadline ${input.deadline.toISOString()})`,
      };
    case 'absent':
      if (!pastDeadline) return { type: 'wait', agentStatus: null };
      return {
        type: 'failed',
        reason: 'instance_not_found',
        agentStatus: null,
        detail: `${statusCall === 'NodeStatus' ? 'NodeStatusList' : statusCall} did not report the instance: CloudMonitor does not know it`,
      };
    case 'transient_error':
      return { type: 'wait', agentStatus: null };
    case 'permanent_error': {
      if (!pastDeadline) return { type: 'wait', agentStatus: null };
      const reason = manualInstallReasonFor({
        outcomeKind: lookup.outcomeKind,
        errorCode: lookup.errorCode,
        errorMessage: lookup.errorMessage,
        httpStatus: lookup.httpStatus,
        retriesExhausted: false,
      });
      return {
        type: 'failed',
        reason,
        agentStatus: null,
        detail: `${statusCall} failed: ${lookup.errorCode ?? 'error'}${lookup.errorMessage ? `: ${lookup.errorMessage}` : ''}`,
      };
    }
    default:
      return assertNever(lookup, 'agent lookup');
  }
}
