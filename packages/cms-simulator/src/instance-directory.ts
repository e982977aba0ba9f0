import { AgentStatus, agentStatus, type AgentRecord } from './agent-lifecycle.ts';
import {
  isAgentFailingInstance,
  isFailingInstance,
  isNoCloudAssistantInstance,
  isUnknownInstance,
} from './instance-fate.ts';
import type { Scenario } from './scenario.ts';

/** How an instance will behave, from the seed and the current rates. */
export type InstanceFate = {
  /** The id does not exist: 404 InvalidInstanceId.NotFound. */
  readonly unknown: boolean;
  /** No Server Guard agent: NodeInstall refused every time, AutoInstall false. */
  readonly noServerGuard: boolean;
  /** NodeInstall accepted, but the agent ends in install_faild. */
  readonly agentFails: boolean;
  /** No Cloud Assistant client: InstallMonitoringAgent starts nothing there, AutoInstall false in 2019-01-01. */
  readonly noCloudAssistant: boolean;
};

/** What `GET /_sim/instances/:instanceId` shows. */
export type InstanceReport = InstanceFate & {
  instanceId: string;
  status: AgentStatus;
  autoInstall: boolean;
  /** NodeInstall calls that reached the action. */
  installCalls: number;
  /** Installs actually started. */
  installs: number;
  /** When the latest install finishes or finished, ISO 8601; null before any install. */
  readyAt: string | null;
  /**
   * RequestIds of the latest NodeInstall answers and InstallMonitoringAgent calls that named it (newest last, at most
   * 20), to match what a client recorded.
   */
  requestIds: string[];
};

export type InstanceDirectory = {
  fate(instanceId: string): InstanceFate;
  status(instanceId: string, nowMs: number): AgentStatus;
  startInstall(instanceId: string, nowMs: number, durationMs: number): void;
  uninstall(instanceId: string): void;
  rememberRequestId(instanceId: string, requestId: string): void;
  /** Every instance an action looked at (status or install) since the last clear, in id order: the host inventory. */
  knownInstances(): string[];
  describe(instanceId: string, nowMs: number, counts: { installCalls: number; installs: number }): InstanceReport;
  clear(): void;
};

const REMEMBERED_REQUEST_IDS = 20;

export function createInstanceDirectory(seed: string, scenario: () => Readonly<Scenario>): InstanceDirectory {
  const records = new Map<string, AgentRecord>();
  const requestIds = new Map<string, string[]>();
  const seen = new Set<string>();

  const fate = (instanceId: string): InstanceFate => {
    const current = scenario();
    return {
      unknown: isUnknownInstance(seed, instanceId, current.notFoundRate),
      noServerGuard: isFailingInstance(seed, instanceId, current.failureRate),
      agentFails: isAgentFailingInstance(seed, instanceId, current.agentFailureRate),
      noCloudAssistant: isNoCloudAssistantInstance(seed, instanceId, current.noCloudAssistantRate),
    };
  };

  return {
    fate,
    status(instanceId, nowMs) {
      seen.add(instanceId);
      return agentStatus(records.get(instanceId), fate(instanceId).agentFails, nowMs);
    },
    startInstall(instanceId, nowMs, durationMs) {
      seen.add(instanceId);
      records.set(instanceId, { readyAt: nowMs + durationMs, uninstalled: false });
    },
    uninstall(instanceId) {
      const record = records.get(instanceId);
      if (record?.readyAt !== undefined) record.uninstalled = true;
    },
    rememberRequestId(instanceId, requestId) {
      let ids = requestIds.get(instanceId);
      if (!ids) requestIds.set(instanceId, (ids = []));
      ids.push(requestId);
      if (ids.length > REMEMBERED_REQUEST_IDS) ids.shift();
    },
    knownInstances: () => [...seen].sort(),
    describe(instanceId, nowMs, counts) {
      const instanceFate = fate(instanceId);
      const readyAt = records.get(instanceId)?.readyAt;
      return {
        instanceId,
        ...instanceFate,
        status: agentStatus(records.get(instanceId), instanceFate.agentFails, nowMs),
        autoInstall: !instanceFate.noServerGuard,
        installCalls: counts.installCalls,
        installs: counts.installs,
        readyAt: readyAt === undefined ? null : new Date(readyAt).toISOString(),
        requestIds: [...(requestIds.get(instanceId) ?? [])],
      };
    },
    clear() {
      records.clear();
      requestIds.clear();
      seen.clear();
    },
  };
}
