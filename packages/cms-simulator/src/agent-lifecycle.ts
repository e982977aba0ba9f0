import { assertNever } from '@fleet/errors';

/**
 * The CloudMonitor agent on one instance, as NodeStatus reports it. One module decides every transition; the
 * server only records what happened and asks.
 *
 * Transitions:
 *   not_installed  --NodeInstall accepted---------------------> installing
 *   installing     --installDurationMs elapsed----------------> running, or install_faild on an agent-failing instance
 *   installing     --NodeInstall Force=false------------------> installing   (accepted, no new install: one is under way)
 *   running        --NodeInstall Force=false------------------> running      (accepted, no-op)
 *   running / installing --NodeInstall Force=true-------------> installing   (reinstall, the clock restarts)
 *   install_faild / uninstalled --NodeInstall (any Force)-----> installing
 *   installing / running / install_faild --NodeUninstall-----> uninstalled
 * An instance without a Server Guard agent refuses NodeInstall every time and stays not_installed; an agent that
 * never came up (install_faild) is retried by every NodeInstall and fails again the same way.
 */

export const AgentStatus = {
  notInstalled: 'not_installed',
  installing: 'installing',
  running: 'running',
  installFailed: 'install_faild', // sic: the API's spelling
  uninstalled: 'uninstalled',
} as const;
export type AgentStatus = (typeof AgentStatus)[keyof typeof AgentStatus];

/** What the simulator remembers about one instance. Absent = never touched. */
export type AgentRecord = {
  /** When the latest accepted install finishes (epoch ms); undefined while nothing was ever installed. */
  readyAt: number | undefined;
  uninstalled: boolean;
};

export function agentStatus(record: AgentRecord | undefined, agentFails: boolean, nowMs: number): AgentStatus {
  if (record === undefined || record.readyAt === undefined) return AgentStatus.notInstalled;
  if (record.uninstalled) return AgentStatus.uninstalled;
  if (nowMs < record.readyAt) return AgentStatus.installing;
  return agentFails ? AgentStatus.installFailed : AgentStatus.running;
}

export type InstallDecision =
  | { readonly kind: 'refused-no-server-guard' }
  | { readonly kind: 'start-install' }
  | { readonly kind: 'already-present'; readonly status: typeof AgentStatus.running | typeof AgentStatus.installing };

export function decideInstall(status: AgentStatus, force: boolean, hasServerGuard: boolean): InstallDecision {
  if (!hasServerGuard) return { kind: 'refused-no-server-guard' };
  switch (status) {
    case AgentStatus.running:
    case AgentStatus.installing:
      return force ? { kind: 'start-install' } : { kind: 'already-present', status };
    case AgentStatus.notInstalled:
    case AgentStatus.installFailed:
    case AgentStatus.uninstalled:
      return { kind: 'start-install' };
    default:
      return assertNever(status, 'agent status');
  }
}
