import { FleetError } from '@fleet/errors';
import type { Attempt } from './call-result.ts';
import { toCallResult } from './call-result.ts';
import type { CallObservation } from './classify-outcome.ts';
import { nonEmptyString, resolveCmsClientOptions } from './client-options.ts';
import type {
  CmsClient,
  CmsClientOptions,
  ExactSigning,
  InstallMonitoringAgentInput,
  NodeInstallInput,
  NodeStatusListChunkResult,
  NodeStatusListResult,
  NodeStatusReport,
} from './cms-client-types.ts';
import { normalizeNodeStatus } from './node-status.ts';
import type { NodeAgentStatus } from './node-status.ts';
import { createPoolExchanger, monotonicMs } from './exchange.ts';
import type { SendAt } from './exchange.ts';
import { parseResponse } from './parse-response.ts';
import { prepareRequest } from './prepare-request.ts';
import type { ActionParams } from './request-params.ts';
import { percentEncode } from './signature.ts';

/**
 * Client for the CloudMonitor (CMS) agent actions: the legacy ones (Version 2017-03-01 by default): NodeInstall,
 * NodeStatus, NodeStatusList, NodeUninstall; and their 2019-01-01 successors InstallMonitoringAgent and
 * DescribeMonitoringAgentStatuses, always sent with Version 2019-01-01.
 *
 * Contract:
 * - A call never throws for anything the remote side or the network does: it resolves to a `CallResult` whose
 *   `outcome` (classify-outcome.ts) says what to do next. Only programmer errors (bad options, bad arguments, a call
 *   after `close()`) throw a FleetError.
 * - The client does NOT retry, with one exception: a `resign` outcome (InvalidTimeStamp.Expired, SignatureNonceUsed)
 *   is retried once, immediately, with a fresh Timestamp and nonce, because that is the only way such a call can
 *   succeed and it costs nothing to try. The retry shares the call's timeoutMs budget: a call never takes longer
 *   than timeoutMs in total. The result is then the second call's, with `resigned: true` and both
 *   RequestIds in `requestIds`. Every other retry decision belongs to the caller's retry policy.
 * - The AccessKey secret is used only as the HMAC key. It is never sent, and any echo of it in a response or error
 *   text is replaced by `[REDACTED]` before it reaches a result; so is an echo of the STS token (which is sent).
 */

const REDACTED = '[REDACTED]';
/** The API version of InstallMonitoringAgent and DescribeMonitoringAgentStatuses. */
const MONITORING_AGENT_API_VERSION = '2019-01-01';
/** InstallMonitoringAgent takes 1 to 10 instances per call. */
const INSTALL_MONITORING_AGENT_MAX_INSTANCES = 10;

/** One API call: its action, its parameters, and the API version when it is not the client's. */
type StatusListAction = 'NodeStatusList' | 'DescribeMonitoringAgentStatuses';

type ApiCall = { action: string; params?: ActionParams | undefined; version?: string };
/** A call timed for a start that went: how late for it (ms). */
type Sent = { lateMs: number };
/** A call timed for a start that did not go, for being later than its tolerance (ms late). */
type Late = { kind: 'late'; lateMs: number };
const isLate = (value: object): value is Late => 'kind' in value && value.kind === 'late';
const USER_AGENT = 'fleet-cms-client/0.1.0';

function argumentError(message: string): FleetError {
  return new FleetError('cms_client_argument_invalid', message);
}

function checkSendAt(what: string, at: SendAt): void {
  if (typeof at !== 'object' || at === null || !Number.isFinite(at.atMs) || !(at.lateToleranceMs >= 0)) {
    throw argumentError(`${what}: at needs a finite atMs and a lateToleranceMs of 0 or more`);
  }
}

function requireInstanceId(value: unknown, what = 'instanceId'): string {
  if (!nonEmptyString(value)) throw argumentError(`${what} must be a non-empty string`);
  if (value.includes(',')) throw argumentError(`${what} must not contain a comma`);
  return value.trim();
}

export function createCmsClient(options: CmsClientOptions): CmsClient {
  const {
    endpoint,
    credentials: signingCredentials,
    method,
    format,
    version,
    signatureVersion,
    timeoutMs,
    maxConnections,
    statusListChunkSize: chunkSize,
    maxResponseBytes,
    now,
    nonce,
  } = resolveCmsClientOptions(options);
  // The secret as it is; an STS token also as a gateway echoes it back in a SignatureDoesNotMatch answer: raw (v3's
  // canonical request), percent-encoded once (v1's canonicalized query) and twice (v1's string to sign). Longest
  // first, so a longer spelling is not cut into by a shorter one it contains.
  const token = signingCredentials.securityToken;
  const hidden = [
    signingCredentials.accessKeySecret,
    ...(token ? [token, percentEncode(token), percentEncode(percentEncode(token))] : []),
  ].sort((a, b) => b.length - a.length);

  const redact = (text: string): string =>
    hidden.reduce((shown, value) => (shown.includes(value) ? shown.split(value).join(REDACTED) : shown), text);

  // One origin, so one pool: on this thread's loop, or in the send thread (exchange.ts, send-thread/).
  const poolSettings = { origin: endpoint.origin, connections: maxConnections, timeoutMs, maxResponseBytes };
  const exchanger = options.sendThread ? options.sendThread.exchanger(poolSettings) : createPoolExchanger(poolSettings);
  let closed = false;
  let closing: Promise<void> | null = null;

  /** One HTTP exchange, aborted after `budgetMs`, at `at` when given. A timeout is reported against timeoutMs. */
  async function observe(
    call: ApiCall,
    budgetMs: number,
    signing?: ExactSigning,
    at?: SendAt,
  ): Promise<{ observation: CallObservation; sentAtMs: number; durationMs: number; lateMs: number } | Late> {
    const prepared = prepareRequest(endpoint, {
      action: call.action,
      params: call.params ?? {},
      method,
      credentials: signingCredentials,
      format,
      version: call.version ?? version,
      signatureVersion,
      now: signing ? () => signing.timestamp : now,
      ...(signing ? { nonce: () => signing.nonce } : nonce ? { nonce } : {}),
    });
    const answer = await exchanger.exchange({
      method: prepared.method,
      path: prepared.path,
      headers: { ...prepared.headers, 'user-agent': USER_AGENT },
      body: prepared.body ?? null,
      budgetMs,
      ...(at ? { at } : {}),
    });
    if (answer.kind === 'late') return answer;
    const { sentAtMs, durationMs, lateMs } = answer;
    if (answer.kind === 'failed') {
      const observation: CallObservation = answer.timedOut
        ? { kind: 'timeout', timeoutMs }
        : { kind: 'network_error', code: answer.code, message: redact(answer.message) };
      return { observation, sentAtMs, durationMs, lateMs };
    }
    if (answer.text === null) {
      const observation: CallObservation = {
        kind: 'malformed',
        httpStatus: answer.status,
        format: null,
        requestId: null,
        reason: `body longer than ${maxResponseBytes} bytes`,
        excerpt: '',
      };
      return { observation, sentAtMs, durationMs, lateMs };
    }
    const observation = parseResponse({
      status: answer.status,
      contentType: answer.contentType,
      body: redact(answer.text),
    });
    return { observation, sentAtMs, durationMs, lateMs };
  }

  /** One exchange as a CallResult; its startedAt is when the request went (after the wait for `at`). */
  async function attempt(
    call: ApiCall,
    budgetMs: number,
    signing?: ExactSigning,
    at?: SendAt,
  ): Promise<(Attempt & { lateMs: number }) | Late> {
    const begun = now();
    const begunMs = monotonicMs();
    const observed = await observe(call, budgetMs, signing, at);
    if (isLate(observed)) return observed;
    const finishedAt = now();
    // The wait for `at` (and the way to the thread that sends), on the monotonic clock, moves startedAt to the send.
    const waitedMs = at ? Math.max(0, observed.sentAtMs - begunMs) : 0;
    const timing = {
      startedAt: new Date(begun.getTime() + waitedMs),
      finishedAt,
      durationMs: Math.round(observed.durationMs),
    };
    return { ...toCallResult(call.action, observed.observation, timing, redact), lateMs: observed.lateMs };
  }

  async function execute(call: ApiCall, signing?: ExactSigning): Promise<Attempt> {
    const timed = await executeAt(call, signing);
    // Without a start there is nothing to be late for.
    if (isLate(timed)) throw new FleetError('cms_client_invariant', `${call.action} was late without a start`);
    return timed;
  }

  /** The call, at `at` when given; `late` (nothing sent) when its thread came to `at` past its tolerance. */
  async function executeAt(call: ApiCall, signing?: ExactSigning, at?: SendAt): Promise<(Attempt & Sent) | Late> {
    const { action } = call;
    if (closed) throw new FleetError('cms_client_closed', `cannot call ${action}: the CMS client is closed`);
    if (!nonEmptyString(action)) throw argumentError('action must be a non-empty string');
    const first = await attempt(call, timeoutMs, signing, at);
    // An exact replay must not be re-signed: its resign answer is the information the caller asked for.
    if (isLate(first) || signing || first.result.outcome.kind !== 'resign') return first;
    // Documented exception to "the client does not retry": see the module comment. Exactly once, and within the
    // same timeoutMs budget (counted from the first request's send), so callers (e.g. a worker presuming a call dead
    // after timeoutMs + grace) can rely on no call outliving timeoutMs. Without budget left, the resign outcome is
    // returned for the caller to retry.
    const remainingMs = Math.floor(timeoutMs - first.result.durationMs);
    if (remainingMs <= 0) return first;
    const second = await attempt(call, remainingMs);
    if (isLate(second)) return first;
    return {
      document: second.document,
      lateMs: first.lateMs,
      result: {
        ...second.result,
        startedAt: first.result.startedAt,
        durationMs: first.result.durationMs + second.result.durationMs,
        resigned: true,
        requestIds: [...first.result.requestIds, ...second.result.requestIds],
      },
    };
  }

  /** NodeInstall's call, its input checked. */
  function nodeInstallCall(input: NodeInstallInput): ApiCall {
    if (typeof input !== 'object' || input === null) throw argumentError('nodeInstall: input is required');
    // A number here would already have lost digits (16-digit UIDs exceed 2^53), so refuse rather than stringify.
    if (!nonEmptyString(input.userId)) throw argumentError('nodeInstall: userId must be a non-empty string');
    const instanceId = requireInstanceId(input.instanceId);
    if (input.force !== undefined && typeof input.force !== 'boolean') {
      throw argumentError('nodeInstall: force must be a boolean when given');
    }
    return {
      action: 'NodeInstall',
      params: { UserId: input.userId.trim(), InstanceId: instanceId, Force: input.force },
    };
  }

  /** InstallMonitoringAgent's call and its de-duplicated ids, its input checked. */
  function installMonitoringAgentCall(input: InstallMonitoringAgentInput): { call: ApiCall; instanceIds: string[] } {
    if (typeof input !== 'object' || input === null || !Array.isArray(input.instanceIds)) {
      throw argumentError('installMonitoringAgent: instanceIds must be an array');
    }
    const instanceIds = [...new Set(input.instanceIds.map((id) => requireInstanceId(id, 'each instanceId')))];
    if (instanceIds.length === 0 || instanceIds.length > INSTALL_MONITORING_AGENT_MAX_INSTANCES) {
      throw argumentError(
        `installMonitoringAgent: 1 to ${INSTALL_MONITORING_AGENT_MAX_INSTANCES} instance ids, got ${instanceIds.length}`,
      );
    }
    if (input.force !== undefined && typeof input.force !== 'boolean') {
      throw argumentError('installMonitoringAgent: force must be a boolean when given');
    }
    const call = {
      action: 'InstallMonitoringAgent',
      version: MONITORING_AGENT_API_VERSION,
      params: { InstanceIds: instanceIds, Force: input.force },
    };
    return { call, instanceIds };
  }

  /** NodeStatusList, or DescribeMonitoringAgentStatuses (2019-01-01): the same ids in, the same list out. */
  async function statusListChunk(
    listAction: StatusListAction,
    instanceIds: string[],
  ): Promise<NodeStatusListChunkResult> {
    const { result, document } = await execute({
      action: listAction,
      params: { InstanceIds: instanceIds.join(',') },
      ...(listAction === 'DescribeMonitoringAgentStatuses' ? { version: MONITORING_AGENT_API_VERSION } : {}),
    });
    const nodes: NodeStatusReport[] =
      result.outcome.kind === 'success'
        ? (document?.nodeStatusList ?? []).map((record) => ({
            instanceId: record.instanceId,
            status: normalizeNodeStatus(record.status),
            rawStatus: record.status,
            autoInstall: record.autoInstall,
          }))
        : [];
    return { ...result, instanceIds, nodes };
  }

  /** Ids de-duplicated and asked for in sequential chunks of statusListChunkSize (gentle on the account's rate). */
  async function statusList(
    listAction: StatusListAction,
    input: { instanceIds: readonly string[] },
  ): Promise<NodeStatusListResult> {
    const what = listAction === 'NodeStatusList' ? 'nodeStatusList' : 'describeMonitoringAgentStatuses';
    if (typeof input !== 'object' || input === null || !Array.isArray(input.instanceIds)) {
      throw argumentError(`${what}: instanceIds must be an array`);
    }
    const requested = [...new Set(input.instanceIds.map((id) => requireInstanceId(id, 'each instanceId')))];
    const chunks: NodeStatusListChunkResult[] = [];
    for (let start = 0; start < requested.length; start += chunkSize) {
      chunks.push(await statusListChunk(listAction, requested.slice(start, start + chunkSize)));
    }
    const wanted = new Set(requested);
    const statuses = new Map<string, NodeAgentStatus>();
    for (const chunk of chunks) {
      for (const node of chunk.nodes) if (wanted.has(node.instanceId)) statuses.set(node.instanceId, node.status);
    }
    return { chunks, statuses, unresolved: requested.filter((id) => !statuses.has(id)) };
  }

  return {
    async nodeInstall(input) {
      const { result } = await execute(nodeInstallCall(input), input.exactSigning);
      return result;
    },

    async nodeInstallAt(input, at) {
      checkSendAt('nodeInstallAt', at);
      const timed = await executeAt(nodeInstallCall(input), input.exactSigning, at);
      return isLate(timed) ? timed : { kind: 'sent', lateMs: timed.lateMs, result: timed.result };
    },

    async nodeStatus(input) {
      if (typeof input !== 'object' || input === null) throw argumentError('nodeStatus: input is required');
      const instanceId = requireInstanceId(input.instanceId);
      const { result, document } = await execute({ action: 'NodeStatus', params: { InstanceId: instanceId } });
      const succeeded = result.outcome.kind === 'success';
      return {
        ...result,
        instanceId,
        status: succeeded ? normalizeNodeStatus(document?.status) : null,
        rawStatus: document?.status ?? null,
        autoInstall: document?.autoInstall ?? null,
      };
    },

    nodeStatusList: (input) => statusList('NodeStatusList', input),

    async installMonitoringAgent(input) {
      const { call, instanceIds } = installMonitoringAgentCall(input);
      const { result } = await execute(call, input.exactSigning);
      return { ...result, instanceIds };
    },

    async installMonitoringAgentAt(input, at) {
      checkSendAt('installMonitoringAgentAt', at);
      const { call, instanceIds } = installMonitoringAgentCall(input);
      const timed = await executeAt(call, input.exactSigning, at);
      return isLate(timed) ? timed : { kind: 'sent', lateMs: timed.lateMs, result: { ...timed.result, instanceIds } };
    },

    describeMonitoringAgentStatuses: (input) => statusList('DescribeMonitoringAgentStatuses', input),

    async nodeUninstall(input) {
      if (typeof input !== 'object' || input === null) throw argumentError('nodeUninstall: input is required');
      const { result } = await execute({
        action: 'NodeUninstall',
        params: { InstanceId: requireInstanceId(input.instanceId) },
      });
      return result;
    },

    async call(action, params) {
      const { result, document } = await execute({ action, params });
      return { ...result, document };
    },

    close() {
      closed = true;
      closing ??= exchanger.close();
      return closing;
    },
  };
}
