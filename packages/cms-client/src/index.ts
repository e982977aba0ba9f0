export { createCmsClient } from './cms-client.ts';
export { monotonicMs } from './exchange.ts';
export type { SendAt } from './exchange.ts';
export { startCmsSendThread } from './send-thread/send-thread.ts';
export type { CmsSendThread, SendThreadOptions, SendThreadPriority } from './send-thread/send-thread.ts';
export { AGENT_STATUS_IDS_PER_CALL, callAgentStatus } from './agent-status-call.ts';
export type { AgentStatusAction } from './agent-status-call.ts';
export { normalizeNodeStatus, NODE_AGENT_STATUSES } from './node-status.ts';
export type { NodeAgentStatus } from './node-status.ts';
export type {
  ActionCallResult,
  CallResult,
  CmsClient,
  CmsClientOptions,
  InstallMonitoringAgentInput,
  InstallMonitoringAgentResult,
  NodeInstallInput,
  NodeStatusListChunkResult,
  NodeStatusListResult,
  NodeStatusReport,
  NodeStatusResult,
  TimedCall,
} from './cms-client-types.ts';
export { cmsClientOptions } from './cms-client-settings.ts';
export type { CmsClientSettings } from './cms-client-settings.ts';
export { attemptOutcomeClass, classifyOutcome, recommendedAction, RECOMMENDED_ACTIONS } from './classify-outcome.ts';
export type { CallObservation, CallOutcome, CallOutcomeKind, TransportFailure } from './classify-outcome.ts';
export { parseResponse } from './parse-response.ts';
export type {
  MalformedResponse,
  NodeStatusRecord,
  ParsedDocument,
  ParsedResponse,
  RawResponse,
} from './parse-response.ts';
export {
  buildSignedParams,
  DEFAULT_API_VERSION,
  encodeParams,
  formatTimestamp,
  FORM_CONTENT_TYPE,
  SIGNATURE_VERSIONS,
} from './request-params.ts';
export { prepareRequest } from './prepare-request.ts';
export type {
  ActionParams,
  ActionParamValue,
  CmsCredentials,
  HttpMethod,
  PreparedRequest,
  ResponseFormat,
  SignedParamsInput,
  SignatureVersion,
} from './request-params.ts';
export { percentEncode, canonicalizedQueryString, stringToSign, signString, computeSignature } from './signature.ts';
export type { SignableParams } from './signature.ts';
export {
  sha256Hex,
  V3_ALGORITHM,
  v3Authorization,
  v3CanonicalHeaders,
  v3CanonicalQueryString,
  v3CanonicalRequest,
  v3StringToSign,
} from './v3-signature.ts';
export type { V3SigningInput } from './v3-signature.ts';
