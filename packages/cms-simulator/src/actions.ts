import type { ActionAnswer, ActionContext } from './action-types.ts';
import { decideInstall } from './agent-lifecycle.ts';
import { missingParameter } from './gateway-common.ts';
import { MONITORING_AGENT_ACTIONS } from './monitoring-agent-actions.ts';
import type { DocumentObject } from './render.ts';
import type { RequestParams } from './request-params.ts';

/**
 * The legacy CMS agent actions. Each answers either an action result (HTTP 200, `Success` + `ErrorCode`, which may
 * itself report a failure) or a gateway-style error document (missing parameter, unknown instance).
 */

const INSTANCE_ID_PATTERN = /^i-[a-z0-9]+$/;
const USER_ID_PATTERN = /^[0-9]{1,32}$/;

function result(
  ctx: ActionContext,
  action: string,
  errorCode: number,
  errorMessage: string,
  fields: DocumentObject = {},
): ActionAnswer {
  return {
    kind: 'result',
    rootName: `${action}Response`,
    errorCode,
    document: {
      RequestId: ctx.requestId,
      Success: errorCode === 200,
      ErrorCode: errorCode,
      ErrorMessage: errorMessage,
      ...fields,
    },
  };
}

function instanceNotFound(instanceId: string): ActionAnswer {
  return {
    kind: 'error',
    status: 404,
    code: 'InvalidInstanceId.NotFound',
    message: `The specified instance ${instanceId} does not exist.`,
  };
}

function required(params: RequestParams, name: string): string | ActionAnswer {
  const value = params[name];
  return value === undefined || value === '' ? { kind: 'error', ...missingParameter(name) } : value;
}

function invalidInstanceId(ctx: ActionContext, action: string, instanceId: string): ActionAnswer {
  return result(
    ctx,
    action,
    400,
    `The parameter InstanceId is invalid: "${instanceId}" is not an ECS instance id (i-...).`,
  );
}

function nodeInstall(ctx: ActionContext): ActionAnswer {
  const userId = required(ctx.params, 'UserId');
  if (typeof userId !== 'string') return userId;
  const instanceId = required(ctx.params, 'InstanceId');
  if (typeof instanceId !== 'string') return instanceId;
  if (!USER_ID_PATTERN.test(userId)) {
    return result(
      ctx,
      'NodeInstall',
      400,
      `The parameter UserId is invalid: "${userId}" is not an account id (digits).`,
    );
  }
  if (!INSTANCE_ID_PATTERN.test(instanceId)) return invalidInstanceId(ctx, 'NodeInstall', instanceId);
  const forceParam = ctx.params.Force?.toLowerCase();
  if (forceParam !== undefined && forceParam !== 'true' && forceParam !== 'false') {
    return result(ctx, 'NodeInstall', 400, 'The parameter Force is invalid: it must be true or false.');
  }
  // The API page: "If the agent has been installed, the default value indicates forced installation".
  const force = forceParam !== 'false';

  const fate = ctx.instances.fate(instanceId);
  if (fate.unknown) return instanceNotFound(instanceId);
  const decision = decideInstall(ctx.instances.status(instanceId, ctx.nowMs), force, !fate.noServerGuard);
  switch (decision.kind) {
    case 'refused-no-server-guard':
      return result(
        ctx,
        'NodeInstall',
        400,
        `The Server Guard (Aegis) agent is not installed or not online on instance ${instanceId}, so the CloudMonitor ` +
          'agent cannot be installed remotely. Log on to the instance and install the CloudMonitor agent manually.',
      );
    case 'start-install':
      ctx.instances.startInstall(instanceId, ctx.nowMs, ctx.scenario.installDurationMs);
      ctx.onInstallStarted(instanceId);
      return result(ctx, 'NodeInstall', 200, '');
    case 'already-present':
      return result(ctx, 'NodeInstall', 200, '');
  }
}

function statusEntry(ctx: ActionContext, instanceId: string): DocumentObject {
  return {
    InstanceId: instanceId,
    Status: ctx.instances.status(instanceId, ctx.nowMs),
    AutoInstall: !ctx.instances.fate(instanceId).noServerGuard,
  };
}

function nodeStatus(ctx: ActionContext): ActionAnswer {
  const instanceId = required(ctx.params, 'InstanceId');
  if (typeof instanceId !== 'string') return instanceId;
  if (!INSTANCE_ID_PATTERN.test(instanceId)) return invalidInstanceId(ctx, 'NodeStatus', instanceId);
  if (ctx.instances.fate(instanceId).unknown) return instanceNotFound(instanceId);
  return result(ctx, 'NodeStatus', 200, '', statusEntry(ctx, instanceId));
}

/** Instances that do not exist are left out of the list, as a lookup by id simply does not find them. */
function nodeStatusList(ctx: ActionContext): ActionAnswer {
  const list = required(ctx.params, 'InstanceIds');
  if (typeof list !== 'string') return list;
  const instanceIds = list
    .split(',')
    .map((id) => id.trim())
    .filter((id) => id !== '');
  const malformed = instanceIds.find((id) => !INSTANCE_ID_PATTERN.test(id));
  if (malformed !== undefined) return invalidInstanceId(ctx, 'NodeStatusList', malformed);
  const entries = [...new Set(instanceIds)]
    .filter((id) => !ctx.instances.fate(id).unknown)
    .map((id) => statusEntry(ctx, id));
  return result(ctx, 'NodeStatusList', 200, '', { NodeStatusList: { NodeStatus: entries } });
}

function nodeUninstall(ctx: ActionContext): ActionAnswer {
  const instanceId = required(ctx.params, 'InstanceId');
  if (typeof instanceId !== 'string') return instanceId;
  if (!INSTANCE_ID_PATTERN.test(instanceId)) return invalidInstanceId(ctx, 'NodeUninstall', instanceId);
  if (ctx.instances.fate(instanceId).unknown) return instanceNotFound(instanceId);
  ctx.instances.uninstall(instanceId);
  return result(ctx, 'NodeUninstall', 200, '');
}

/** Every action by name; which version offers which is api-versions.ts's to say (the gateway checks it). */
export const ACTIONS: Readonly<Record<string, (ctx: ActionContext) => ActionAnswer>> = {
  NodeInstall: nodeInstall,
  NodeStatus: nodeStatus,
  NodeStatusList: nodeStatusList,
  NodeUninstall: nodeUninstall,
  ...MONITORING_AGENT_ACTIONS,
};
