import type { CallOutcome } from './classify-outcome.ts';
import type { SendAt } from './exchange.ts';
import type { NodeAgentStatus } from './node-status.ts';
import type { ParsedDocument } from './parse-response.ts';
import type { ActionParams, CmsCredentials, HttpMethod, ResponseFormat, SignatureVersion } from './request-params.ts';
import type { CmsSendThread } from './send-thread/send-thread.ts';

/** What createCmsClient takes and what its calls answer (the client's contract is in cms-client.ts). */

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
  /**
   * `v1` (default): RPC signature 1.0 (HMAC-SHA1 over the parameters, `Signature` among them). `v3`:
   * `ACS3-HMAC-SHA256` in an `Authorization` header, the public parameters as `x-acs-*` headers (v3-request.ts).
   * Exact replays (`exactSigning`) work the same in both: the nonce and the date are what is pinned.
   */
  signatureVersion?: SignatureVersion;
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
  /**
   * Where the connections live and requests are sent from: the process's send thread (startCmsSendThread), whose
   * event loop runs nothing else, so a call timed for a start (nodeInstallAt) goes at it however busy the caller's
   * loop is. Default: this thread's own loop. The thread outlives the client (stop it after closing its clients).
   */
  sendThread?: CmsSendThread;
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

/** NodeInstallInput's exactSigning: the SignatureNonce and Timestamp to sign with, as they are. */
export type ExactSigning = { nonce: string; timestamp: Date };

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

export type InstallMonitoringAgentInput = {
  /** 1 to 10 instance ids (after de-duplication), sent as `InstanceIds.1..N`. */
  instanceIds: readonly string[];
  /** Sent as `Force=true|false` when given; omitted otherwise (the API's default is true). */
  force?: boolean;
  /** As for NodeInstall: sign with exactly this nonce and date and never re-sign; the nonce covers the whole call. */
  exactSigning?: ExactSigning;
};

/** The API reports nothing per instance: one outcome for the whole call, and which instances it named. */
export type InstallMonitoringAgentResult = CallResult & { instanceIds: string[] };

/**
 * A call timed for a start (CmsClient.nodeInstallAt): sent, with how late for its start (ms) and its result; or not
 * sent, for being later than its tolerance when its thread came to it.
 */
export type TimedCall<R = CallResult> = { kind: 'sent'; lateMs: number; result: R } | { kind: 'late'; lateMs: number };

export type CmsClient = {
  nodeInstall(input: NodeInstallInput): Promise<CallResult>;
  /**
   * NodeInstall sent at a start: never before `at.atMs` (on monotonicMs), and not at all when the thread that sends
   * comes to it more than `at.lateToleranceMs` after (`late`: the caller takes a new start). With a send thread the
   * wait is there; a re-signed retry goes at once after the first answer.
   */
  nodeInstallAt(input: NodeInstallInput, at: SendAt): Promise<TimedCall>;
  nodeStatus(input: { instanceId: string }): Promise<NodeStatusResult>;
  /** Ids are de-duplicated and queried in sequential chunks (gentle on the per-account rate limit). */
  nodeStatusList(input: { instanceIds: readonly string[] }): Promise<NodeStatusListResult>;
  nodeUninstall(input: { instanceId: string }): Promise<CallResult>;
  /** InstallMonitoringAgent (2019-01-01). Accepted means only that: a later status check tells which hosts run. */
  installMonitoringAgent(input: InstallMonitoringAgentInput): Promise<InstallMonitoringAgentResult>;
  /** InstallMonitoringAgent sent at a start, as nodeInstallAt. */
  installMonitoringAgentAt(
    input: InstallMonitoringAgentInput,
    at: SendAt,
  ): Promise<TimedCall<InstallMonitoringAgentResult>>;
  /** DescribeMonitoringAgentStatuses (2019-01-01), chunked like nodeStatusList; AutoInstall false: no Cloud Assistant. */
  describeMonitoringAgentStatuses(input: { instanceIds: readonly string[] }): Promise<NodeStatusListResult>;
  /** Any other action of the same API, signed and classified the same way. */
  call(action: string, params?: ActionParams): Promise<ActionCallResult>;
  /** Waits for in-flight calls, then closes the keep-alive pool. Idempotent. Calls after close() throw. */
  close(): Promise<void>;
};
