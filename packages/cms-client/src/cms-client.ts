import { performance } from 'node:perf_hooks';
import { FleetError } from '@fleet/errors';
import { Pool } from 'undici';
import { classifyOutcome, type CallObservation, type CallOutcome } from './classify-outcome.ts';
import { parseResponse, type ParsedDocument } from './parse-response.ts';
import {
  DEFAULT_API_VERSION,
  prepareRequest,
  type ActionParams,
  type CmsCredentials,
  type HttpMethod,
  type ResponseFormat,
} from './request-params.ts';

/**
 * Client for the CloudMonitor (CMS) legacy agent actions (Version 2017-03-01): NodeInstall, NodeStatus,
 * NodeStatusList, NodeUninstall.
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
 *   text is replaced by `[REDACTED]` before it reaches a result.
 */

export type CmsClientOptions = {
  /** Base URL of the API, e.g. `http://127.0.0.1:8787/` or `https://metrics.cn-hangzhou.aliyuncs.com/`. */
  endpoint: string;
  credentials: CmsCredentials;
  /** Deadline for one call (connect + headers + whole body, and the re-signed retry if any), in ms. Default 10000. */
  timeoutMs?: number;
  /** Default `POST` (form body). `GET` puts every parameter in the query string. */
  method?: HttpMethod;
  /** Response format requested from the API. Default `JSON`; either is parsed. */
  format?: ResponseFormat;
  /** API Version parameter. Default `2017-03-01`. */
  version?: string;
  /** Keep-alive connections per origin. Default 256. */
  maxConnections?: number;
  /** Clock for Timestamp and for startedAt/finishedAt. Default `() => new Date()`. durationMs is always monotonic. */
  now?: () => Date;
  /** SignatureNonce source, unique per request. Default `crypto.randomUUID`. */
  nonce?: () => string;
  /** Instance ids per NodeStatusList call. Default 50. */
  statusListChunkSize?: number;
  /** Largest response body read, in bytes; a longer one is a malformed response. Default 1048576 (1 MiB). */
  maxResponseBytes?: number;
};

export type CallResult = {
  action: string;
  outcome: CallOutcome;
  /** null when no HTTP response arrived (network error, timeout). */
  httpStatus: number | null;
  requestId: string | null;
  /** Every RequestId this call produced, oldest first (two after a re-sign). Quote them to support. */
  requestIds: string[];
  /** Action-level Success, null when absent. */
  success: boolean | null;
  /** Action ErrorCode as string, or the gateway Code, or `NetworkError` / `Timeout` / `MalformedResponse`. */
  errorCode: string | null;
  errorMessage: string | null;
  hostId: string | null;
  recommend: string | null;
  /** True when the first attempt came back `resign` and this is the result of the one immediate re-signed retry. */
  resigned: boolean;
  startedAt: Date;
  finishedAt: Date;
  durationMs: number;
};

/** A call through the generic `call()` also exposes the parsed document (null for transport failures/malformed). */
export type ActionCallResult = CallResult & { document: ParsedDocument | null };

export const NODE_AGENT_STATUSES = [
  'running',
  'stopped',
  'not_installed',
  'installing',
  'install_faild',
  'need_to_upgrade',
  'uninstalled',
  'unknown',
] as const;
/** The CloudMonitor agent's state on an instance. `install_faild` is the API's own spelling. */
export type NodeAgentStatus = (typeof NODE_AGENT_STATUSES)[number];

const STATUS_BY_NAME: ReadonlyMap<string, NodeAgentStatus> = new Map<string, NodeAgentStatus>([
  ...NODE_AGENT_STATUSES.filter((s) => s !== 'unknown').map((s): [string, NodeAgentStatus] => [s, s]),
  // The correctly spelt variant, in case a fixed API version or a simulator sends it.
  ['install_failed', 'install_faild'],
]);

/** Case-insensitive; spaces and hyphens count as underscores; anything unrecognised (or absent) is `unknown`. */
export function normalizeNodeStatus(raw: string | null | undefined): NodeAgentStatus {
  if (raw === null || raw === undefined) return 'unknown';
  return (
    STATUS_BY_NAME.get(
      raw
        .trim()
        .toLowerCase()
        .replace(/[\s-]+/g, '_'),
    ) ?? 'unknown'
  );
}

export type NodeInstallInput = {
  /** Alibaba Cloud account UID (16 digits). A string: a JS number cannot hold it exactly. */
  userId: string;
  instanceId: string;
  /** Sent as `Force=true|false` when given; omitted otherwise. */
  force?: boolean;
  /**
   * Sign with exactly this SignatureNonce and Timestamp, and never re-sign. Replaying an attempt's own request
   * this way asks the gateway whether the first copy arrived: `SignatureNonceUsed` means it did (within the 15
   * minutes a nonce is remembered); any other answer is the attempt's one real call.
   */
  exactSigning?: { nonce: string; timestamp: Date };
};

type ExactSigning = { nonce: string; timestamp: Date };

export type NodeStatusResult = CallResult & {
  instanceId: string;
  /** Normalised Status; null unless the call succeeded. */
  status: NodeAgentStatus | null;
  /** Status exactly as the API sent it. */
  rawStatus: string | null;
  /** Whether NodeInstall can install the agent automatically; null when unknown. */
  autoInstall: boolean | null;
};

export type NodeStatusReport = {
  instanceId: string;
  status: NodeAgentStatus;
  rawStatus: string | null;
  autoInstall: boolean | null;
};

export type NodeStatusListChunkResult = CallResult & {
  /** The instance ids this call asked about. */
  instanceIds: string[];
  /** What the API reported (empty unless the call succeeded). */
  nodes: NodeStatusReport[];
};

export type NodeStatusListResult = {
  /** One call result per chunk of `statusListChunkSize` ids, in order. */
  chunks: NodeStatusListChunkResult[];
  /** Requested instance id -> normalised status, for every id a successful chunk reported. */
  statuses: Map<string, NodeAgentStatus>;
  /** Requested ids without a status: their chunk failed, or the API left them out. */
  unresolved: string[];
};

export type CmsClient = {
  nodeInstall(input: NodeInstallInput): Promise<CallResult>;
  nodeStatus(input: { instanceId: string }): Promise<NodeStatusResult>;
  /** Ids are de-duplicated and queried in sequential chunks (gentle on the per-account rate limit). */
  nodeStatusList(input: { instanceIds: readonly string[] }): Promise<NodeStatusListResult>;
  nodeUninstall(input: { instanceId: string }): Promise<CallResult>;
  /** Any other action of the same API, signed and classified the same way. */
  call(action: string, params?: ActionParams): Promise<ActionCallResult>;
  /** Waits for in-flight calls, then closes the keep-alive pool. Idempotent. Calls after close() throw. */
  close(): Promise<void>;
};

const DEFAULTS = {
  timeoutMs: 10_000,
  method: 'POST',
  format: 'JSON',
  maxConnections: 256,
  statusListChunkSize: 50,
  maxResponseBytes: 1024 * 1024,
} as const;

const REDACTED = '[REDACTED]';
const USER_AGENT = 'fleet-cms-client/0.1.0';

function optionsError(message: string): FleetError {
  return new FleetError('cms_client_options_invalid', `createCmsClient: ${message}`);
}

function argumentError(message: string): FleetError {
  return new FleetError('cms_client_argument_invalid', message);
}

// setTimeout fires at once for delays above 2^31-1 ms, which would turn a huge timeout into an instant one.
const MAX_TIMER_MS = 2_147_483_647;

function positiveInteger(
  name: string,
  value: number | undefined,
  fallback: number,
  max = Number.MAX_SAFE_INTEGER,
): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value <= 0 || value > max) {
    throw optionsError(`${name} must be a positive integer not above ${max}`);
  }
  return value;
}

function nonEmptyString(value: unknown): value is string {
  return typeof value === 'string' && value.trim().length > 0;
}

function requireInstanceId(value: unknown, what = 'instanceId'): string {
  if (!nonEmptyString(value)) throw argumentError(`${what} must be a non-empty string`);
  if (value.includes(',')) throw argumentError(`${what} must not contain a comma`);
  return value.trim();
}

type ErrorLike = { code?: unknown; message?: unknown; cause?: unknown; errors?: unknown };

/** The errno-style code of a network error; undici and net put it on the error, its cause, or (happy eyeballs) inside an AggregateError. */
function errorCodeOf(error: unknown): string | null {
  const seen = new Set<unknown>();
  let current: unknown = error;
  while (typeof current === 'object' && current !== null && !seen.has(current)) {
    seen.add(current);
    const candidate = current as ErrorLike;
    if (typeof candidate.code === 'string' && candidate.code.length > 0) return candidate.code;
    if (Array.isArray(candidate.errors) && candidate.errors.length > 0) current = candidate.errors[0];
    else current = candidate.cause;
  }
  return null;
}

function errorMessageOf(error: unknown): string {
  if (error instanceof Error && error.message.length > 0) return error.message;
  if (error instanceof AggregateError) return error.errors.map(errorMessageOf).join('; ');
  return String(error);
}

// undici's own deadlines (backstops behind our AbortController) report as errors with these codes.
const UNDICI_TIMEOUT_CODES: ReadonlySet<string> = new Set([
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_CONNECT_TIMEOUT',
]);

type Attempt = { result: CallResult; document: ParsedDocument | null };

export function createCmsClient(options: CmsClientOptions): CmsClient {
  if (typeof options !== 'object' || options === null) throw optionsError('options must be an object');
  let endpoint: URL;
  try {
    endpoint = new URL(options.endpoint);
  } catch {
    throw optionsError('endpoint must be an absolute http(s) URL');
  }
  if (endpoint.protocol !== 'http:' && endpoint.protocol !== 'https:') {
    throw optionsError('endpoint must be an absolute http(s) URL');
  }
  const credentials = options.credentials;
  if (typeof credentials !== 'object' || credentials === null) throw optionsError('credentials are required');
  if (!nonEmptyString(credentials.accessKeyId))
    throw optionsError('credentials.accessKeyId must be a non-empty string');
  // Never include the value in the message: it is the secret.
  if (!nonEmptyString(credentials.accessKeySecret)) {
    throw optionsError('credentials.accessKeySecret must be a non-empty string');
  }
  if (credentials.securityToken !== undefined && typeof credentials.securityToken !== 'string') {
    throw optionsError('credentials.securityToken must be a string when given');
  }
  const method = options.method ?? DEFAULTS.method;
  if (method !== 'GET' && method !== 'POST') throw optionsError('method must be GET or POST');
  const format = options.format ?? DEFAULTS.format;
  if (format !== 'JSON' && format !== 'XML') throw optionsError('format must be JSON or XML');
  const version = options.version ?? DEFAULT_API_VERSION;
  if (!nonEmptyString(version)) throw optionsError('version must be a non-empty string');
  const timeoutMs = positiveInteger('timeoutMs', options.timeoutMs, DEFAULTS.timeoutMs, MAX_TIMER_MS);
  const maxConnections = positiveInteger('maxConnections', options.maxConnections, DEFAULTS.maxConnections);
  const chunkSize = positiveInteger('statusListChunkSize', options.statusListChunkSize, DEFAULTS.statusListChunkSize);
  const maxResponseBytes = positiveInteger('maxResponseBytes', options.maxResponseBytes, DEFAULTS.maxResponseBytes);
  const now = options.now ?? (() => new Date());
  const nonce = options.nonce;

  const secret = credentials.accessKeySecret;
  // Copy so a caller mutating its object later cannot change what we sign with.
  const signingCredentials: CmsCredentials = {
    accessKeyId: credentials.accessKeyId,
    accessKeySecret: secret,
    ...(credentials.securityToken !== undefined ? { securityToken: credentials.securityToken } : {}),
  };

  const redact = (text: string): string => (text.includes(secret) ? text.split(secret).join(REDACTED) : text);
  const redactNullable = (text: string | null): string | null => (text === null ? null : redact(text));

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
  async function observe(
    action: string,
    params: ActionParams | undefined,
    budgetMs: number,
    signing?: ExactSigning,
  ): Promise<CallObservation> {
    const prepared = prepareRequest(endpoint, {
      action,
      params: params ?? {},
      method,
      credentials: signingCredentials,
      format,
      version,
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

  function toResult(action: string, observation: CallObservation, startedAt: Date, started: number): Attempt {
    const outcome = classifyOutcome(observation);
    const safeOutcome: CallOutcome =
      outcome.kind === 'success' ? outcome : { kind: outcome.kind, reason: redact(outcome.reason) };
    const base = {
      action,
      outcome: safeOutcome,
      resigned: false,
      startedAt,
      finishedAt: now(),
      durationMs: Math.round(performance.now() - started),
    };
    switch (observation.kind) {
      case 'document': {
        const requestId = redactNullable(observation.requestId);
        return {
          document: observation,
          result: {
            ...base,
            httpStatus: observation.httpStatus,
            requestId,
            requestIds: requestId === null ? [] : [requestId],
            success: observation.success,
            errorCode: redactNullable(observation.code ?? observation.errorCode),
            errorMessage: redactNullable(observation.message ?? observation.errorMessage),
            hostId: redactNullable(observation.hostId),
            recommend: redactNullable(observation.recommend),
          },
        };
      }
      case 'malformed': {
        const requestId = redactNullable(observation.requestId);
        const excerpt = observation.excerpt ? `; body starts: ${observation.excerpt}` : '';
        return {
          document: null,
          result: {
            ...base,
            httpStatus: observation.httpStatus,
            requestId,
            requestIds: requestId === null ? [] : [requestId],
            success: null,
            errorCode: 'MalformedResponse',
            errorMessage: redact(`${observation.reason}${excerpt}`),
            hostId: null,
            recommend: null,
          },
        };
      }
      case 'network_error':
      case 'timeout':
        return {
          document: null,
          result: {
            ...base,
            httpStatus: null,
            requestId: null,
            requestIds: [],
            success: null,
            errorCode: observation.kind === 'timeout' ? 'Timeout' : 'NetworkError',
            errorMessage:
              observation.kind === 'timeout'
                ? `no complete response within ${observation.timeoutMs} ms`
                : `${observation.code ?? 'unknown'}: ${observation.message}`,
            hostId: null,
            recommend: null,
          },
        };
    }
  }

  async function attempt(
    action: string,
    params: ActionParams | undefined,
    budgetMs: number,
    signing?: ExactSigning,
  ): Promise<Attempt> {
    const startedAt = now();
    const started = performance.now();
    const observation = await observe(action, params, budgetMs, signing);
    return toResult(action, observation, startedAt, started);
  }

  async function execute(action: string, params?: ActionParams, signing?: ExactSigning): Promise<Attempt> {
    if (closed) throw new FleetError('cms_client_closed', `cannot call ${action}: the CMS client is closed`);
    if (!nonEmptyString(action)) throw argumentError('action must be a non-empty string');
    const deadline = performance.now() + timeoutMs;
    const first = await attempt(action, params, timeoutMs, signing);
    // An exact replay must not be re-signed: its resign answer is the information the caller asked for.
    if (signing || first.result.outcome.kind !== 'resign') return first;
    // Documented exception to "the client does not retry": see the module comment. Exactly once, and within the
    // same timeoutMs budget, so callers (e.g. a worker presuming a call dead after timeoutMs + grace) can rely on
    // no call outliving timeoutMs. Without budget left, the resign outcome is returned for the caller to retry.
    const remainingMs = Math.floor(deadline - performance.now());
    if (remainingMs <= 0) return first;
    const second = await attempt(action, params, remainingMs);
    return {
      document: second.document,
      result: {
        ...second.result,
        resigned: true,
        requestIds: [...first.result.requestIds, ...second.result.requestIds],
      },
    };
  }

  async function nodeStatusListChunk(instanceIds: string[]): Promise<NodeStatusListChunkResult> {
    const { result, document } = await execute('NodeStatusList', { InstanceIds: instanceIds.join(',') });
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
        'NodeInstall',
        {
          UserId: input.userId.trim(),
          InstanceId: instanceId,
          Force: input.force,
        },
        input.exactSigning,
      );
      return result;
    },

    async nodeStatus(input) {
      if (typeof input !== 'object' || input === null) throw argumentError('nodeStatus: input is required');
      const instanceId = requireInstanceId(input.instanceId);
      const { result, document } = await execute('NodeStatus', { InstanceId: instanceId });
      const succeeded = result.outcome.kind === 'success';
      return {
        ...result,
        instanceId,
        status: succeeded ? normalizeNodeStatus(document?.status) : null,
        rawStatus: document?.status ?? null,
        autoInstall: document?.autoInstall ?? null,
      };
    },

    async nodeStatusList(input) {
      if (typeof input !== 'object' || input === null || !Array.isArray(input.instanceIds)) {
        throw argumentError('nodeStatusList: instanceIds must be an array');
      }
      const requested = [...new Set(input.instanceIds.map((id) => requireInstanceId(id, 'each instanceId')))];
      const chunks: NodeStatusListChunkResult[] = [];
      for (let start = 0; start < requested.length; start += chunkSize) {
        chunks.push(await nodeStatusListChunk(requested.slice(start, start + chunkSize)));
      }
      const wanted = new Set(requested);
      const statuses = new Map<string, NodeAgentStatus>();
      for (const chunk of chunks) {
        for (const node of chunk.nodes) if (wanted.has(node.instanceId)) statuses.set(node.instanceId, node.status);
      }
      return { chunks, statuses, unresolved: requested.filter((id) => !statuses.has(id)) };
    },

    async nodeUninstall(input) {
      if (typeof input !== 'object' || input === null) throw argumentError('nodeUninstall: input is required');
      const { result } = await execute('NodeUninstall', { InstanceId: requireInstanceId(input.instanceId) });
      return result;
    },

    async call(action, params) {
      const { result, document } = await execute(action, params);
      return { ...result, document };
    },

    close() {
      closed = true;
      closing ??= pool.close();
      return closing;
    },
  };
}
