import { AgentStatus, decideInstall } from './agent-lifecycle.ts';
import type { ActionAnswer, ActionContext } from './action-types.ts';
import type { DocumentObject } from './render.ts';
import { seededFraction } from './seeded-fraction.ts';

/**
 * The CMS 2019-01-01 agent actions, which replaced NodeInstall and its siblings:
 *
 * - InstallMonitoringAgent: `InstanceIds.1..N` (1 to 10), `Force` (default true), `InstallCommand`
 *   (`onlyInstallNotHasAgent` | `onlyUpgradeAgent` | `installAndUpgrade`; when set it applies to every host of the
 *   account, here every host the simulator has seen, and InstanceIds is ignored). Answers Code/Message/Success only:
 *   there are no per-instance results. It installs through the Cloud Assistant client: a host without one is
 *   accepted like the others but never gets an agent (AutoInstall false in the status).
 * - DescribeMonitoringAgentStatuses: `InstanceIds` comma separated, at most 50 here (Alibaba's docs give no limit);
 *   `NodeStatusList.NodeStatus[]` of InstanceId, Status (running, stopped, installing, install_faild, abnormal,
 *   not_installed), AutoInstall. Ids that do not exist are left out.
 * - DescribeMonitoringAgentHosts: the hosts, filtered by KeyWord, HostName, InstanceIds, InstanceRegionId,
 *   AliyunHost and Status (Running | Stopped), paged by PageNumber (default 1) and PageSize (default 10).
 *
 * Their errors: 400 ParameterInvalid, 404 ResourceNotFound (403 AccessForbidden and 500 InternalError come from the
 * shared account checks and fault injection), each a gateway error document.
 */

const INSTALL_MAX_INSTANCES = 10;
const STATUSES_MAX_INSTANCES = 50;
const DEFAULT_PAGE_SIZE = 10;
const INSTALL_COMMANDS = new Set(['onlyInstallNotHasAgent', 'onlyUpgradeAgent', 'installAndUpgrade']);
const INSTANCE_ID_PATTERN = /^i-[a-z0-9]+$/;
const REGION = 'cn-hangzhou';

function success(ctx: ActionContext, action: string, fields: DocumentObject = {}): ActionAnswer {
  return {
    kind: 'result',
    rootName: `${action}Response`,
    errorCode: 200,
    document: { RequestId: ctx.requestId, Success: true, Code: '200', Message: '', ...fields },
  };
}

function parameterInvalid(message: string): ActionAnswer {
  return { kind: 'error', status: 400, code: 'ParameterInvalid', message };
}

function resourceNotFound(instanceId: string): ActionAnswer {
  return {
    kind: 'error',
    status: 404,
    code: 'ResourceNotFound',
    message: `The specified resource is not found: ${instanceId}.`,
  };
}

/** `InstanceIds.1`, `InstanceIds.2`, ... in order; the 1-based indexes must run without a gap. */
function listParam(ctx: ActionContext, name: string): string[] | ActionAnswer {
  const values: string[] = [];
  const prefix = `${name}.`;
  const indexes = Object.keys(ctx.params)
    .filter((key) => key.startsWith(prefix))
    .map((key) => key.slice(prefix.length));
  for (const index of indexes) {
    if (!/^[1-9][0-9]*$/.test(index))
      return parameterInvalid(`The parameter ${name}.${index} is invalid: not a 1-based index.`);
  }
  for (let i = 1; i <= indexes.length; i++) {
    const value = ctx.params[`${prefix}${i}`];
    if (value === undefined)
      return parameterInvalid(`The parameter ${name}.${i} is missing: list items are numbered 1..N.`);
    values.push(value.trim());
  }
  return values;
}

/** ParameterInvalid for more than `max` ids or one that is not an ECS instance id; undefined when they are fine. */
function invalidInstanceIds(instanceIds: readonly string[], max: number): ActionAnswer | undefined {
  if (instanceIds.length > max) {
    return parameterInvalid(
      `The parameter InstanceIds is invalid: at most ${max} instances per call, got ${instanceIds.length}.`,
    );
  }
  const malformed = instanceIds.find((id) => !INSTANCE_ID_PATTERN.test(id));
  if (malformed !== undefined) {
    return parameterInvalid(`The parameter InstanceIds is invalid: "${malformed}" is not an ECS instance id (i-...).`);
  }
  return undefined;
}

function forceParam(ctx: ActionContext): boolean | ActionAnswer {
  const force = ctx.params.Force?.toLowerCase();
  if (force !== undefined && force !== 'true' && force !== 'false') {
    return parameterInvalid('The parameter Force is invalid: it must be true or false.');
  }
  return force !== 'false';
}

/** Starts an install where the decision says so; a host without Cloud Assistant is passed over in silence. */
function installOn(ctx: ActionContext, instanceId: string, force: boolean): void {
  if (ctx.instances.fate(instanceId).noCloudAssistant) {
    ctx.instances.status(instanceId, ctx.nowMs); // still a host the simulator now knows
    return;
  }
  const decision = decideInstall(ctx.instances.status(instanceId, ctx.nowMs), force, true);
  if (decision.kind === 'start-install') {
    ctx.instances.startInstall(instanceId, ctx.nowMs, ctx.scenario.installDurationMs);
    ctx.onInstallStarted(instanceId);
  }
}

function installByCommand(ctx: ActionContext, command: string): void {
  for (const instanceId of ctx.instances.knownInstances()) {
    const status = ctx.instances.status(instanceId, ctx.nowMs);
    const present = status === AgentStatus.running || status === AgentStatus.installing;
    if (command === 'onlyInstallNotHasAgent' && present) continue;
    if (command === 'onlyUpgradeAgent' && status !== AgentStatus.running) continue;
    installOn(ctx, instanceId, true);
  }
}

function installMonitoringAgent(ctx: ActionContext): ActionAnswer {
  const force = forceParam(ctx);
  if (typeof force !== 'boolean') return force;
  const command = ctx.params.InstallCommand;
  if (command !== undefined && command !== '') {
    if (!INSTALL_COMMANDS.has(command)) {
      return parameterInvalid(
        `The parameter InstallCommand is invalid: expected one of ${[...INSTALL_COMMANDS].join(', ')}.`,
      );
    }
    installByCommand(ctx, command);
    return success(ctx, 'InstallMonitoringAgent');
  }
  const instanceIds = listParam(ctx, 'InstanceIds');
  if (!Array.isArray(instanceIds)) return instanceIds;
  if (instanceIds.length === 0) {
    return parameterInvalid('InstanceIds or InstallCommand is mandatory for this action.');
  }
  const invalid = invalidInstanceIds(instanceIds, INSTALL_MAX_INSTANCES);
  if (invalid) return invalid;
  // Checked before anything starts: a call naming an instance that does not exist installs nowhere.
  const unknown = instanceIds.find((id) => ctx.instances.fate(id).unknown);
  if (unknown !== undefined) return resourceNotFound(unknown);
  for (const instanceId of new Set(instanceIds)) {
    ctx.instances.rememberRequestId(instanceId, ctx.requestId);
    installOn(ctx, instanceId, force);
  }
  return success(ctx, 'InstallMonitoringAgent');
}

/** 2019-01-01 has no `uninstalled`: an agent taken off again is simply not installed. */
function reportedStatus(ctx: ActionContext, instanceId: string): string {
  const status = ctx.instances.status(instanceId, ctx.nowMs);
  return status === AgentStatus.uninstalled ? AgentStatus.notInstalled : status;
}

function commaList(text: string | undefined): string[] {
  return (text ?? '')
    .split(',')
    .map((id) => id.trim())
    .filter((id) => id !== '');
}

function describeMonitoringAgentStatuses(ctx: ActionContext): ActionAnswer {
  const instanceIds = [...new Set(commaList(ctx.params.InstanceIds))];
  if (instanceIds.length === 0) return parameterInvalid('InstanceIds is mandatory for this action.');
  const invalid = invalidInstanceIds(instanceIds, STATUSES_MAX_INSTANCES);
  if (invalid) return invalid;
  const entries = instanceIds
    .filter((id) => !ctx.instances.fate(id).unknown)
    .map((id) => ({
      InstanceId: id,
      Status: reportedStatus(ctx, id),
      AutoInstall: !ctx.instances.fate(id).noCloudAssistant,
    }));
  return success(ctx, 'DescribeMonitoringAgentStatuses', { NodeStatusList: { NodeStatus: entries } });
}

function positiveIntegerParam(ctx: ActionContext, name: string, fallback: number): number | ActionAnswer {
  const text = ctx.params[name];
  if (text === undefined || text === '') return fallback;
  if (!/^[1-9][0-9]{0,5}$/.test(text))
    return parameterInvalid(`The parameter ${name} is invalid: expected a whole number from 1.`);
  return Number(text);
}

function hostEntry(instanceId: string, running: boolean): DocumentObject {
  // A made-up but stable serial number: the agent's id exists only where the agent runs.
  const serial = seededFraction(`serial:${instanceId}`).toString(16).slice(2, 14).padEnd(12, '0');
  return {
    InstanceId: instanceId,
    HostName: `host-${instanceId.slice(2)}`,
    Region: REGION,
    isAliyunHost: true,
    OperatingSystem: 'Linux',
    NetworkType: 'vpc',
    AgentVersion: running ? '3.5.12' : '',
    SerialNumber: running ? `a1ab31a3-0000-40f2-9e95-${serial}` : '',
  };
}

function describeMonitoringAgentHosts(ctx: ActionContext): ActionAnswer {
  const pageNumber = positiveIntegerParam(ctx, 'PageNumber', 1);
  if (typeof pageNumber !== 'number') return pageNumber;
  const pageSize = positiveIntegerParam(ctx, 'PageSize', DEFAULT_PAGE_SIZE);
  if (typeof pageSize !== 'number') return pageSize;
  const statusFilter = ctx.params.Status?.toLowerCase();
  if (statusFilter !== undefined && statusFilter !== '' && statusFilter !== 'running' && statusFilter !== 'stopped') {
    return parameterInvalid('The parameter Status is invalid: expected Running or Stopped.');
  }
  const keyWord = ctx.params.KeyWord ?? '';
  const hostName = ctx.params.HostName ?? '';
  const wanted = new Set(commaList(ctx.params.InstanceIds));
  const region = ctx.params.InstanceRegionId ?? '';
  // Every simulated host is an ECS instance: asking for the others finds none.
  const aliyunOnly = ctx.params.AliyunHost?.toLowerCase() !== 'false';

  const hosts = aliyunOnly
    ? ctx.instances
        .knownInstances()
        .filter((id) => !ctx.instances.fate(id).unknown)
        .map((id) => hostEntry(id, ctx.instances.status(id, ctx.nowMs) === AgentStatus.running))
        .filter((host) => {
          const id = String(host.InstanceId);
          const name = String(host.HostName);
          if (wanted.size > 0 && !wanted.has(id)) return false;
          if (region !== '' && region !== REGION) return false;
          if (hostName !== '' && !name.includes(hostName)) return false;
          if (keyWord !== '' && !id.includes(keyWord) && !name.includes(keyWord)) return false;
          if (statusFilter === 'running' && host.AgentVersion === '') return false;
          if (statusFilter === 'stopped' && host.AgentVersion !== '') return false;
          return true;
        })
    : [];
  const page = hosts.slice((pageNumber - 1) * pageSize, pageNumber * pageSize);
  return success(ctx, 'DescribeMonitoringAgentHosts', {
    PageNumber: pageNumber,
    PageSize: pageSize,
    Total: hosts.length,
    PageTotal: Math.ceil(hosts.length / pageSize),
    Hosts: { Host: page },
  });
}

export const MONITORING_AGENT_ACTIONS: Readonly<Record<string, (ctx: ActionContext) => ActionAnswer>> = {
  InstallMonitoringAgent: installMonitoringAgent,
  DescribeMonitoringAgentStatuses: describeMonitoringAgentStatuses,
  DescribeMonitoringAgentHosts: describeMonitoringAgentHosts,
};
