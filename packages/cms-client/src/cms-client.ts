import { performance } from 'node:perf_hooks';
import { FleetError } from '@fleet/errors';
import { Pool } from 'undici';
import type { Attempt } from './call-result.ts';
import { toCallResult } from './call-result.ts';
import type { CallObservation } from './classify-outcome.ts';
import { nonEmptyString, resolveCmsClientOptions } from './client-options.ts';
import type {
  CmsClient,
  CmsClientOptions,
  ExactSigning,
  NodeStatusListChunkResult,
  NodeStatusListResult,
  NodeStatusReport,
} from './cms-client-types.ts';
import { normalizeNodeStatus } from './node-status.ts';
import type { NodeAgentStatus } from './node-status.ts';
import { errorCodeOf, errorMessageOf, UNDICI_TIMEOUT_CODES } from './network-error.ts';
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
const USER_AGENT = 'fleet-cms-client/0.1.0';

function argumentError(message: string): FleetError {
  return new FleetError('cms_client_argument_invalid', message);
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

  // One origin, so one Pool. Keep-alive reuse is what makes thousands of calls cheap; the headers/body/connect
  // timeouts are backstops behind the per-call AbortController, which also bounds the whole body read.
  const pool = new Pool(endpoint.origin, {
    connections: maxConnections,
    pipelining: 1,
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
    connect: { timeout: timeoutMs },
  });
  let closed = false;
  let closing: Promise<void> | null = null;

  /** Reads at most maxResponseBytes; null when the body is longer (the rest is discarded with the socket). */
  async function readBody(body: AsyncIterable<Buffer | Uint8Array> & { destroy(): unknown }): Promise<string | null> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of body) {
      size += chunk.byteLength;
      if (size > maxResponseBytes) {
        body.destroy();
        return null;
      }
      chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
    }
    return Buffer.concat(chunks).toString('utf8');
  }

  /** One HTTP exchange, aborted after `budgetMs`. A timeout is reported against the configured timeoutMs. */
  async function observe(call: ApiCall, budgetMs: number, signing?: ExactSigning): Promise<CallObservation> {
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
    const controller = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, budgetMs);
    try {
      const response = await pool.request({
        path: prepared.path,
        method: prepared.method,
        headers: { ...prepared.headers, 'user-agent': USER_AGENT },
        body: prepared.body ?? null,
        signal: controller.signal,
      });
      const contentTypeHeader = response.headers['content-type'];
      const contentType = Array.isArray(contentTypeHeader)
        ? (contentTypeHeader[0] ?? null)
        : (contentTypeHeader ?? null);
      const text = await readBody(response.body);
      // undici ends the body stream before the pool learns (via a deferred 'drain' event) that the connection is
      // free again; a caller that issues its next call straight away would otherwise open a second socket, and
      // sequential callers end up alternating between two. One macrotask lets the pool catch up.
      await new Promise<void>((resolve) => setImmediate(resolve));
      if (text === null) {
        return {
          kind: 'malformed',
          httpStatus: response.statusCode,
          format: null,
          requestId: null,
          reason: `body longer than ${maxResponseBytes} bytes`,
          excerpt: '',
        };
      }
      return parseResponse({ status: response.statusCode, contentType, body: redact(text) });
    } catch (error) {
      const code = errorCodeOf(error);
      if (timedOut || (code !== null && UNDICI_TIMEOUT_CODES.has(code))) return { kind: 'timeout', timeoutMs };
      return { kind: 'network_error', code, message: redact(errorMessageOf(error)) };
    } finally {
      clearTimeout(timer);
    }
  }

  async function attempt(call: ApiCall, budgetMs: number, signing?: ExactSigning): Promise<Attempt> {
    const startedAt = now();
    const started = performance.now();
    const observation = await observe(call, budgetMs, signing);
    const timing = { startedAt, finishedAt: now(), durationMs: Math.round(performance.now() - started) };
    return toCallResult(call.action, observation, timing, redact);
  }

  async function execute(call: ApiCall, signing?: ExactSigning): Promise<Attempt> {
    const { action } = call;
    if (closed) throw new FleetError('cms_client_closed', `cannot call ${action}: the CMS client is closed`);
    if (!nonEmptyString(action)) throw argumentError('action must be a non-empty string');
    const deadline = performance.now() + timeoutMs;
    const first = await attempt(call, timeoutMs, signing);
    // An exact replay must not be re-signed: its resign answer is the information the caller asked for.
    if (signing || first.result.outcome.kind !== 'resign') return first;
    // Documented exception to "the client does not retry": see the module comment. Exactly once, and within the
    // same timeoutMs budget, so callers (e.g. a worker presuming a call dead after timeoutMs + grace) can rely on
    // no call outliving timeoutMs. Without budget left, the resign outcome is returned for the caller to retry.
    const remainingMs = Math.floor(deadline - performance.now());
    if (remainingMs <= 0) return first;
    const second = await attempt(call, remainingMs);
    return {
      document: second.document,
      result: {
        ...second.result,
        resigned: true,
        requestIds: [...first.result.requestIds, ...second.result.requestIds],
      },
    };
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
      if (typeof input !== 'object' || input === null) throw argumentError('nodeInstall: input is required');
      // A number here would already have lost digits (16-digit UIDs exceed 2^53), so refuse rather than stringify.
      if (!nonEmptyString(input.userId)) throw argumentError('nodeInstall: userId must be a non-empty string');
      const instanceId = requireInstanceId(input.instanceId);
      if (input.force !== undefined && typeof input.force !== 'boolean') {
        throw argumentError('nodeInstall: force must be a boolean when given');
      }
      const { result } = await execute(
        {
          action: 'NodeInstall',
          params: { UserId: input.userId.trim(), InstanceId: instanceId, Force: input.force },
        },
        input.exactSigning,
      );
      return result;
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
      const { result } = await execute(
        {
          action: 'InstallMonitoringAgent',
          version: MONITORING_AGENT_API_VERSION,
          params: { InstanceIds: instanceIds, Force: input.force },
        },
        input.exactSigning,
      );
      return { ...result, instanceIds };
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
      closing ??= pool.close();
      return closing;
    },
  };
}
