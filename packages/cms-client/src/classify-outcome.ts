import { assertNever } from '@fleet/errors';
import type { ParsedResponse } from './parse-response.ts';

/**
 * THE one place that decides what an outcome of a CMS call means. Everything else (client, retry policy, rollout
 * state machine) consumes a `CallOutcome` and never looks at HTTP statuses or error codes itself.
 *
 * Kinds:
 * - success     HTTP 2xx and Success true, or ErrorCode 200 with Success absent; the 2019-01-01 actions also send
 *               Code "200" with Success true.
 * - retryable   transient: HTTP 5xx, Code ServiceUnavailable / InternalError, ErrorCode 500/502/503/504, network
 *               errors (ECONNRESET, ECONNREFUSED, socket hang up, ...), timeouts, malformed bodies.
 * - throttled   any Code (or string ErrorCode) starting with `Throttling`; also HTTP 429. Retry with a slower,
 *               jittered backoff and slow the whole account down.
 * - resign      InvalidTimeStamp.Expired, SignatureNonceUsed: retry only with a fresh Timestamp and nonce.
 * - fleet_wide  the same answer for every instance (credentials, signing, permissions): SignatureDoesNotMatch,
 *               IncompleteSignature, InvalidSignatureMethod, InvalidAccessKeyId*, Forbidden*, AccessForbidden,
 *               HTTP 403, ErrorCode 403. Also, beyond the brief's table, InvalidSecurityToken* (the STS token is
 *               shared by every call), InvalidAction* and InvalidVersion (a wrong Version breaks every call).
 * - final       this instance cannot succeed by retrying: InvalidInstanceId.NotFound, ResourceNotFound, HTTP 404,
 *               ErrorCode 400/404 (and any other 4xx ErrorCode), MissingParameter / Missing*, InvalidParameter*,
 *               any other 4xx, and Success=false without a more specific code. (Beyond the brief: a 3xx is
 *               fleet_wide, because the gateway never redirects and a redirect means a wrong endpoint.)
 *
 * Precedence: success (2xx, no Code, Success true or ErrorCode 200 with Success absent) first; then, most specific
 * first: a named Code (gateway `Code`, or a non-numeric `ErrorCode`) > a numeric action
 * ErrorCode > the HTTP status > Success. The named code wins because Throttling and the signature errors arrive as
 * HTTP 400 and InvalidAccessKeyId.NotFound as HTTP 404. A malformed body is retryable unless its HTTP status is itself
 * decisive (403 -> fleet_wide, 429 -> throttled, other 4xx -> final, 3xx -> fleet_wide): an HTML 403 page from a WAF will not change on
 * retry, and treating it as transient would hammer every instance.
 */
export type CallOutcome =
  | { kind: 'success' }
  | { kind: 'retryable'; reason: string }
  | { kind: 'throttled'; reason: string }
  | { kind: 'resign'; reason: string }
  | { kind: 'final'; reason: string }
  | { kind: 'fleet_wide'; reason: string };

export type CallOutcomeKind = CallOutcome['kind'];

/** A call that produced no HTTP response at all. */
export type TransportFailure =
  | {
      kind: 'network_error';
      /** e.g. ECONNRESET, UND_ERR_SOCKET; null if unknown */ code: string | null;
      message: string;
    }
  | { kind: 'timeout'; timeoutMs: number };

/** Everything a call can end in: a parsed response (document or malformed) or a transport failure. */
export type CallObservation = ParsedResponse | TransportFailure;

type NamedCodeRule = { test: (code: string) => boolean; kind: Exclude<CallOutcomeKind, 'success'> };

const exact =
  (...names: string[]) =>
  (code: string): boolean =>
    names.includes(code);
const prefix =
  (...prefixes: string[]) =>
  (code: string): boolean =>
    prefixes.some((p) => code.startsWith(p));

// Ordered: the first matching rule wins. Unknown codes fall through to the ErrorCode / HTTP status rules.
const NAMED_CODE_RULES: readonly NamedCodeRule[] = [
  { test: prefix('Throttling'), kind: 'throttled' },
  { test: exact('InvalidTimeStamp.Expired', 'SignatureNonceUsed'), kind: 'resign' },
  {
    test: (code) =>
      exact(
        'SignatureDoesNotMatch',
        'IncompleteSignature',
        'InvalidSignatureMethod',
        'AccessForbidden',
        'InvalidVersion',
      )(code) || prefix('InvalidAccessKeyId', 'Forbidden', 'InvalidSecurityToken', 'InvalidAction')(code),
    kind: 'fleet_wide',
  },
  { test: prefix('ServiceUnavailable', 'InternalError'), kind: 'retryable' },
  {
    test: (code) =>
      exact('InvalidInstanceId.NotFound', 'ResourceNotFound')(code) || prefix('Missing', 'InvalidParameter')(code),
    kind: 'final',
  },
];

function classifyNamedCode(code: string, httpStatus: number, detail: string | null): CallOutcome | null {
  const rule = NAMED_CODE_RULES.find((candidate) => candidate.test(code));
  return rule ? { kind: rule.kind, reason: `${code} (HTTP ${httpStatus})${detail ? `: ${detail}` : ''}` } : null;
}

/** A numeric action ErrorCode other than 200. 500/502/503/504 (any 5xx) are transient; other 4xx are final. */
function classifyNumericErrorCode(errorCode: number, httpStatus: number): CallOutcome | null {
  const reason = `ErrorCode ${errorCode} (HTTP ${httpStatus})`;
  if (errorCode === 200) return null;
  if (errorCode >= 500 && errorCode <= 599) return { kind: 'retryable', reason };
  if (errorCode === 403) return { kind: 'fleet_wide', reason };
  if (errorCode === 429) return { kind: 'throttled', reason };
  if (errorCode >= 400 && errorCode <= 499) return { kind: 'final', reason };
  return null;
}

/** HTTP status rules for a non-2xx response that carried no more specific code. */
function classifyHttpStatus(httpStatus: number, detail: string): CallOutcome | null {
  const reason = `HTTP ${httpStatus}${detail}`;
  if (httpStatus >= 500) return { kind: 'retryable', reason };
  if (httpStatus === 403) return { kind: 'fleet_wide', reason };
  // 429 is throttling in any HTTP stack even without an Alibaba `Throttling` code (e.g. a proxy in front).
  if (httpStatus === 429) return { kind: 'throttled', reason };
  if (httpStatus >= 400) return { kind: 'final', reason };
  // The gateway never redirects an RPC call; a 3xx means the configured endpoint is wrong for every instance.
  if (httpStatus >= 300) return { kind: 'fleet_wide', reason: `${reason}: redirect, check the configured endpoint` };
  return null;
}

const NUMERIC = /^\d+$/;

function classifyDocument(response: Extract<ParsedResponse, { kind: 'document' }>): CallOutcome {
  const { httpStatus, errorCode, code, success } = response;
  const detail = response.message ?? response.errorMessage;
  const is2xx = httpStatus >= 200 && httpStatus <= 299;

  // The brief's definition of success, checked first so that a stray field cannot veto an explicit Success=true.
  // The 2019-01-01 actions answer `Code: "200"` beside Success, where the legacy ones leave Code out.
  const noErrorCode = code === null || code === '200';
  if (is2xx && noErrorCode && (success === true || (success === null && errorCode === '200'))) {
    return { kind: 'success' };
  }

  const numericErrorCode = errorCode !== null && NUMERIC.test(errorCode) ? Number(errorCode) : null;
  for (const named of [code, numericErrorCode === null ? errorCode : null]) {
    if (named === null) continue;
    const outcome = classifyNamedCode(named, httpStatus, detail);
    if (outcome) return outcome;
  }

  if (numericErrorCode !== null) {
    const outcome = classifyNumericErrorCode(numericErrorCode, httpStatus);
    if (outcome) return outcome;
  }

  const byStatus = classifyHttpStatus(httpStatus, code !== null ? ` ${code}` : '');
  if (byStatus) return byStatus;

  if (code !== null) return { kind: 'final', reason: `unrecognised error code ${code} (HTTP ${httpStatus})` };
  const text = `Success=${String(success)}${errorCode !== null ? `, ErrorCode ${errorCode}` : ''}`;
  return { kind: 'final', reason: `${text}${detail ? `: ${detail}` : ''} (HTTP ${httpStatus})` };
}

function classifyMalformed(response: Extract<ParsedResponse, { kind: 'malformed' }>): CallOutcome {
  // Only a 3xx/4xx status is decisive on its own; 2xx and 5xx with a broken body are transient.
  if (response.httpStatus >= 300 && response.httpStatus <= 499) {
    const byStatus = classifyHttpStatus(response.httpStatus, `, malformed body: ${response.reason}`);
    if (byStatus) return byStatus;
  }
  return { kind: 'retryable', reason: `malformed response (HTTP ${response.httpStatus}): ${response.reason}` };
}

export function classifyOutcome(observation: CallObservation): CallOutcome {
  switch (observation.kind) {
    case 'document':
      return classifyDocument(observation);
    case 'malformed':
      return classifyMalformed(observation);
    case 'network_error':
      return { kind: 'retryable', reason: `network error ${observation.code ?? 'unknown'}: ${observation.message}` };
    case 'timeout':
      return { kind: 'retryable', reason: `no complete response within ${observation.timeoutMs} ms` };
    default:
      return assertNever(observation, 'call observation');
  }
}

/** The coarse class an attempt record stores: throttled and resign are retryable; fleet_wide is final. */
export function attemptOutcomeClass(outcome: CallOutcome): 'success' | 'retryable' | 'final' {
  switch (outcome.kind) {
    case 'success':
      return 'success';
    case 'retryable':
    case 'throttled':
    case 'resign':
      return 'retryable';
    case 'final':
    case 'fleet_wide':
      return 'final';
    default:
      return assertNever(outcome, 'call outcome');
  }
}

/** A short human instruction per kind, for operators and the manual-install report. */
export const RECOMMENDED_ACTIONS: ReadonlyMap<CallOutcomeKind, string> = new Map<CallOutcomeKind, string>([
  ['success', 'None: the call was accepted. Confirm the agent with a later status check.'],
  ['retryable', 'Retry with capped exponential backoff and jitter.'],
  ['throttled', 'Retry later with a slower, jittered backoff and slow down every call of this account.'],
  ['resign', 'Re-sign with a fresh Timestamp and nonce, then retry; check the clock if it repeats.'],
  ['final', 'Do not retry this instance; install the agent manually, quoting the RequestId to support.'],
  ['fleet_wide', 'Stop the rollout: credentials, signing or permissions are wrong for every instance.'],
]);

export function recommendedAction(outcome: CallOutcome): string {
  return RECOMMENDED_ACTIONS.get(outcome.kind) ?? '';
}
