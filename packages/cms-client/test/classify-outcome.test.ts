import { describe, expect, it } from 'vitest';
import {
  attemptOutcomeClass,
  classifyOutcome,
  recommendedAction,
  type CallOutcome,
  type CallOutcomeKind,
  type MalformedResponse,
  type ParsedDocument,
} from '../src/index.ts';

function doc(overrides: Partial<ParsedDocument>): ParsedDocument {
  return {
    kind: 'document',
    httpStatus: 200,
    format: 'JSON',
    requestId: 'R',
    success: null,
    errorCode: null,
    errorMessage: null,
    code: null,
    message: null,
    hostId: null,
    recommend: null,
    instanceId: null,
    status: null,
    autoInstall: null,
    nodeStatusList: null,
    ...overrides,
  };
}

function gateway(httpStatus: number, code: string): ParsedDocument {
  return doc({ httpStatus, code, message: null });
}

function malformed(httpStatus: number): MalformedResponse {
  return { kind: 'malformed', httpStatus, format: null, requestId: null, reason: 'empty body', excerpt: '' };
}

type Row = [string, Parameters<typeof classifyOutcome>[0], CallOutcomeKind];

const TABLE: Row[] = [
  // success
  ['HTTP 200 Success true', doc({ success: true, errorCode: '200' }), 'success'],
  ['HTTP 200 Success true without ErrorCode', doc({ success: true }), 'success'],
  ['HTTP 200 ErrorCode 200 with Success absent', doc({ errorCode: '200' }), 'success'],
  ['HTTP 204 Success true', doc({ httpStatus: 204, success: true }), 'success'],
  ['HTTP 200 Code "200" Success true (the 2019-01-01 actions)', doc({ success: true, code: '200' }), 'success'],
  ['HTTP 200 Code "200" Success false', doc({ success: false, code: '200' }), 'final'],
  ['HTTP 400 Code ParameterInvalid (2019-01-01)', gateway(400, 'ParameterInvalid'), 'final'],
  // not success despite looking close
  ['HTTP 200 Success false ErrorCode 200', doc({ success: false, errorCode: '200' }), 'final'],
  ['HTTP 200 Success false without ErrorCode', doc({ success: false }), 'final'],
  ['HTTP 503 Success true', doc({ httpStatus: 503, success: true }), 'retryable'],
  ['HTTP 400 Success true', doc({ httpStatus: 400, success: true }), 'final'],
  ['HTTP 200 with gateway Code and Success true', doc({ success: true, code: 'Throttling' }), 'throttled'],
  // retryable
  ['HTTP 500 gateway InternalError', gateway(500, 'InternalError'), 'retryable'],
  ['HTTP 503 gateway ServiceUnavailable', gateway(503, 'ServiceUnavailable'), 'retryable'],
  ['HTTP 500 with unknown Code', gateway(500, 'SomethingOdd'), 'retryable'],
  ['HTTP 502 document without Code', doc({ httpStatus: 502, success: false }), 'retryable'],
  ['action ErrorCode 500', doc({ success: false, errorCode: '500' }), 'retryable'],
  ['action ErrorCode 502', doc({ success: false, errorCode: '502' }), 'retryable'],
  ['action ErrorCode 503', doc({ success: false, errorCode: '503' }), 'retryable'],
  ['action ErrorCode 504', doc({ success: false, errorCode: '504' }), 'retryable'],
  ['network ECONNRESET', { kind: 'network_error', code: 'ECONNRESET', message: 'read ECONNRESET' }, 'retryable'],
  [
    'network ECONNREFUSED',
    { kind: 'network_error', code: 'ECONNREFUSED', message: 'connect ECONNREFUSED' },
    'retryable',
  ],
  [
    'network socket hang up',
    { kind: 'network_error', code: 'UND_ERR_SOCKET', message: 'other side closed' },
    'retryable',
  ],
  ['network error without code', { kind: 'network_error', code: null, message: 'socket hang up' }, 'retryable'],
  ['timeout', { kind: 'timeout', timeoutMs: 10_000 }, 'retryable'],
  ['malformed body on 200', malformed(200), 'retryable'],
  ['malformed body on 502', malformed(502), 'retryable'],
  // throttled
  ['Throttling', gateway(400, 'Throttling'), 'throttled'],
  ['Throttling.User', gateway(400, 'Throttling.User'), 'throttled'],
  ['Throttling.Api', gateway(400, 'Throttling.Api'), 'throttled'],
  ['Throttling as a string ErrorCode', doc({ success: false, errorCode: 'Throttling.User' }), 'throttled'],
  ['HTTP 429 without a code', doc({ httpStatus: 429, success: false }), 'throttled'],
  ['malformed body on 429', malformed(429), 'throttled'],
  // resign
  ['InvalidTimeStamp.Expired', gateway(400, 'InvalidTimeStamp.Expired'), 'resign'],
  ['SignatureNonceUsed', gateway(400, 'SignatureNonceUsed'), 'resign'],
  // fleet_wide
  ['SignatureDoesNotMatch', gateway(400, 'SignatureDoesNotMatch'), 'fleet_wide'],
  ['IncompleteSignature', gateway(400, 'IncompleteSignature'), 'fleet_wide'],
  ['InvalidSignatureMethod', gateway(400, 'InvalidSignatureMethod'), 'fleet_wide'],
  ['InvalidAccessKeyId.NotFound (HTTP 404)', gateway(404, 'InvalidAccessKeyId.NotFound'), 'fleet_wide'],
  ['InvalidAccessKeyId.Inactive', gateway(400, 'InvalidAccessKeyId.Inactive'), 'fleet_wide'],
  ['Forbidden.RAM', gateway(403, 'Forbidden.RAM'), 'fleet_wide'],
  ['Forbidden.AccessKeyDisabled', gateway(403, 'Forbidden.AccessKeyDisabled'), 'fleet_wide'],
  ['Forbidden', gateway(403, 'Forbidden'), 'fleet_wide'],
  ['AccessForbidden', gateway(403, 'AccessForbidden'), 'fleet_wide'],
  ['InvalidSecurityToken.Expired', gateway(400, 'InvalidSecurityToken.Expired'), 'fleet_wide'],
  ['InvalidAction.NotFound', gateway(404, 'InvalidAction.NotFound'), 'fleet_wide'],
  ['HTTP 403 with unknown Code', gateway(403, 'SomethingElse'), 'fleet_wide'],
  ['HTTP 403 document without Code', doc({ httpStatus: 403, success: false }), 'fleet_wide'],
  ['action ErrorCode 403', doc({ success: false, errorCode: '403' }), 'fleet_wide'],
  ['malformed body on 403', malformed(403), 'fleet_wide'],
  ['HTTP 301 redirect', malformed(301), 'fleet_wide'],
  // final
  ['InvalidInstanceId.NotFound', gateway(404, 'InvalidInstanceId.NotFound'), 'final'],
  ['ResourceNotFound', gateway(404, 'ResourceNotFound'), 'final'],
  ['HTTP 404 with unknown Code', gateway(404, 'NoSuchThing'), 'final'],
  ['HTTP 404 document without Code', doc({ httpStatus: 404, success: false }), 'final'],
  ['action ErrorCode 400', doc({ success: false, errorCode: '400' }), 'final'],
  ['action ErrorCode 404', doc({ success: false, errorCode: '404' }), 'final'],
  ['action ErrorCode 409', doc({ success: false, errorCode: '409' }), 'final'],
  ['MissingParameter', gateway(400, 'MissingParameter'), 'final'],
  ['MissingInstanceId', gateway(400, 'MissingInstanceId'), 'final'],
  ['InvalidParameter', gateway(400, 'InvalidParameter'), 'final'],
  ['InvalidParameter.Format', gateway(400, 'InvalidParameter.Format'), 'final'],
  ['other 4xx with unknown Code', gateway(400, 'SomeNewError'), 'final'],
  ['HTTP 409 without Code', doc({ httpStatus: 409, success: false }), 'final'],
  ['malformed body on 404', malformed(404), 'final'],
  ['malformed body on 400', malformed(400), 'final'],
  ['unknown Code on HTTP 200', gateway(200, 'Weird'), 'final'],
];

describe('classifyOutcome table', () => {
  it.each(TABLE)('%s -> %s', (_name, observation, expected) => {
    expect(classifyOutcome(observation).kind).toBe(expected);
  });
});

describe('classifyOutcome reasons', () => {
  it('names the code, the HTTP status and the message', () => {
    expect(
      classifyOutcome(
        doc({ httpStatus: 400, code: 'Throttling.User', message: 'Request was denied due to user flow control.' }),
      ),
    ).toEqual({
      kind: 'throttled',
      reason: 'Throttling.User (HTTP 400): Request was denied due to user flow control.',
    });
  });

  it('describes action-level, transport and malformed outcomes exactly', () => {
    expect(classifyOutcome(doc({ success: false, errorCode: '500' }))).toEqual({
      kind: 'retryable',
      reason: 'ErrorCode 500 (HTTP 200)',
    });
    expect(classifyOutcome(doc({ success: false, errorCode: '200', errorMessage: 'agent missing' }))).toEqual({
      kind: 'final',
      reason: 'Success=false, ErrorCode 200: agent missing (HTTP 200)',
    });
    expect(classifyOutcome({ kind: 'timeout', timeoutMs: 250 })).toEqual({
      kind: 'retryable',
      reason: 'no complete response within 250 ms',
    });
    expect(classifyOutcome({ kind: 'network_error', code: 'ECONNRESET', message: 'read ECONNRESET' })).toEqual({
      kind: 'retryable',
      reason: 'network error ECONNRESET: read ECONNRESET',
    });
    expect(classifyOutcome(malformed(200))).toEqual({
      kind: 'retryable',
      reason: 'malformed response (HTTP 200): empty body',
    });
    expect(classifyOutcome(malformed(403))).toEqual({
      kind: 'fleet_wide',
      reason: 'HTTP 403, malformed body: empty body',
    });
  });
});

describe('attemptOutcomeClass', () => {
  const cases: Array<[CallOutcome, 'success' | 'retryable' | 'final']> = [
    [{ kind: 'success' }, 'success'],
    [{ kind: 'retryable', reason: 'r' }, 'retryable'],
    [{ kind: 'throttled', reason: 'r' }, 'retryable'],
    [{ kind: 'resign', reason: 'r' }, 'retryable'],
    [{ kind: 'final', reason: 'r' }, 'final'],
    [{ kind: 'fleet_wide', reason: 'r' }, 'final'],
  ];
  it.each(cases)('%j -> %s', (outcome, expected) => {
    expect(attemptOutcomeClass(outcome)).toBe(expected);
  });

  it('every kind has a recommended action', () => {
    for (const [outcome] of cases) expect(recommendedAction(outcome).length).toBeGreaterThan(10);
    expect(recommendedAction({ kind: 'fleet_wide', reason: 'x' })).toMatch(/^Stop the rollout/);
  });
});
