import { randomUUID } from 'node:crypto';
import { FleetError } from '@fleet/errors';
import { computeSignature, percentEncode } from './signature.ts';

/**
 * Builds the complete, signed parameter set of one RPC call (public parameters + the action's own + Signature) and
 * turns it into what goes on the wire: a query string for GET, an `application/x-www-form-urlencoded` body for POST.
 * Pure apart from the injected clock and nonce source, so tests can pin both.
 */

export type HttpMethod = 'GET' | 'POST';
export type ResponseFormat = 'JSON' | 'XML';

/** Version of the legacy CMS agent actions (NodeInstall, NodeStatus, NodeStatusList, NodeUninstall). */
export const DEFAULT_API_VERSION = '2017-03-01';

export type CmsCredentials = {
  accessKeyId: string;
  /** Used only as the HMAC key. Never sent, logged or returned. */
  accessKeySecret: string;
  /** STS token; sent (and signed) as `SecurityToken` when present. */
  securityToken?: string | undefined;
};

/**
 * An action parameter value. Booleans travel as `true` / `false`. A list is flattened 1-based (`Name.1`, `Name.2`,
 * ...) as the RPC convention requires; `undefined` omits the parameter. Numbers are deliberately not accepted:
 * UserId is a 16-digit UID that a JS number cannot hold exactly, so callers must pass strings.
 */
export type ActionParamValue = string | boolean | readonly string[] | undefined;
export type ActionParams = Readonly<Record<string, ActionParamValue>>;

export type SignedParamsInput = {
  action: string;
  params?: ActionParams;
  method: HttpMethod;
  credentials: CmsCredentials;
  /** Default `JSON`. */
  format?: ResponseFormat;
  /** Default `2017-03-01`. */
  version?: string;
  /** Clock for `Timestamp`. Default `() => new Date()`. */
  now?: () => Date;
  /** Source of `SignatureNonce`, must be unique per request. Default `crypto.randomUUID`. */
  nonce?: () => string;
  /** `v1` (default): RPC signature 1.0, HMAC-SHA1 over the parameters. `v3`: ACS3-HMAC-SHA256 in headers. */
  signatureVersion?: SignatureVersion;
};

/** How a request is signed: RPC signature 1.0 (`v1`) or `ACS3-HMAC-SHA256` (`v3`). */
export type SignatureVersion = 'v1' | 'v3';
export const SIGNATURE_VERSIONS: readonly SignatureVersion[] = ['v1', 'v3'];

/** Names the signer owns; an action parameter may not override them. */
const PUBLIC_PARAM_NAMES: ReadonlySet<string> = new Set([
  'Action',
  'Format',
  'Version',
  'AccessKeyId',
  'Signature',
  'SignatureMethod',
  'SignatureVersion',
  'SignatureNonce',
  'Timestamp',
  'SecurityToken',
]);

/** UTC `YYYY-MM-DDThh:mm:ssZ`, without milliseconds (the gateway rejects `.123Z`). */
export function formatTimestamp(date: Date): string {
  const ms = date.getTime();
  if (!Number.isFinite(ms)) throw new FleetError('cms_request_invalid', 'now() returned an invalid Date');
  const iso = date.toISOString();
  // toISOString is always `YYYY-MM-DDThh:mm:ss.sssZ` for years 0..9999; anything else is outside what the API takes.
  if (iso.length !== 24) throw new FleetError('cms_request_invalid', `timestamp out of range: ${iso}`);
  return `${iso.slice(0, 19)}Z`;
}

/** Action parameters as the strings that go on the wire (lists flattened 1-based); refuses public names. */
export function flattenActionParams(params: ActionParams): Record<string, string> {
  const flat: Record<string, string> = {};
  for (const [name, value] of Object.entries(params)) {
    if (value === undefined) continue;
    if (name.length === 0) throw new FleetError('cms_request_invalid', 'action parameter name must not be empty');
    if (PUBLIC_PARAM_NAMES.has(name)) {
      throw new FleetError('cms_request_invalid', `action parameter ${name} collides with a public request parameter`);
    }
    if (typeof value === 'string') flat[name] = value;
    else if (typeof value === 'boolean') flat[name] = value ? 'true' : 'false';
    else if (Array.isArray(value)) value.forEach((item, index) => (flat[`${name}.${index + 1}`] = item));
    else
      throw new FleetError('cms_request_invalid', `action parameter ${name} must be a string, boolean or string list`);
  }
  return flat;
}

/**
 * Every parameter of the request including `Signature`, as plain strings (not yet percent-encoded). The signature
 * covers the method, so a GET-signed set must not be sent as a POST or vice versa.
 */
export function buildSignedParams(input: SignedParamsInput): Record<string, string> {
  const { credentials } = input;
  if (input.action.length === 0) throw new FleetError('cms_request_invalid', 'action must not be empty');
  const nonce = requestNonce(input.nonce);
  const params: Record<string, string> = {
    ...flattenActionParams(input.params ?? {}),
    Action: input.action,
    Format: input.format ?? 'JSON',
    Version: input.version ?? DEFAULT_API_VERSION,
    AccessKeyId: credentials.accessKeyId,
    SignatureMethod: 'HMAC-SHA1',
    SignatureVersion: '1.0',
    SignatureNonce: nonce,
    Timestamp: formatTimestamp((input.now ?? (() => new Date()))()),
  };
  if (credentials.securityToken !== undefined && credentials.securityToken !== '') {
    params['SecurityToken'] = credentials.securityToken;
  }
  params['Signature'] = computeSignature(input.method, params, credentials.accessKeySecret);
  return params;
}

/** `name=value&...` with both sides percent-encoded (space -> %20, never `+`). Usable as query string or form body. */
export function encodeParams(params: Readonly<Record<string, string>>): string {
  return Object.entries(params)
    .map(([name, value]) => `${percentEncode(name)}=${percentEncode(value)}`)
    .join('&');
}

export type PreparedRequest = {
  method: HttpMethod;
  /** Full URL; for GET it carries every parameter in the query string. */
  url: string;
  /** `scheme://host:port` of the endpoint, the key of the connection pool. */
  origin: string;
  /** Path plus, for GET, the query string: what goes on the request line. */
  path: string;
  headers: Record<string, string>;
  /** The form body for POST, `undefined` for GET. */
  body: string | undefined;
  /**
   * The parameters as sent, not encoded: for v1 every one (Signature included), for v3 the action's own (the public
   * ones travel as x-acs-* headers).
   */
  params: Record<string, string>;
};

export const FORM_CONTENT_TYPE = 'application/x-www-form-urlencoded';

/** The nonce of one request from `nonce()` (default a UUID), refused when empty. */
export function requestNonce(nonce: (() => string) | undefined): string {
  const value = (nonce ?? randomUUID)();
  if (typeof value !== 'string' || value.length === 0) {
    throw new FleetError('cms_request_invalid', 'nonce() must return a non-empty string');
  }
  return value;
}

/**
 * Signs the call with RPC signature 1.0 and lays it out for the wire. `endpoint` is the base URL (e.g.
 * `http://127.0.0.1:8787/`); its query string and fragment are dropped. The string to sign always uses `/` as the path, as Alibaba's gateway does.
 * GET: every parameter in the query string. POST: every parameter in an `application/x-www-form-urlencoded` body,
 * signed with method POST. The query string is appended as a raw string, not via URLSearchParams, which would turn
 * %20 into `+`.
 */
export function prepareV1Request(endpoint: string | URL, input: SignedParamsInput): PreparedRequest {
  const params = buildSignedParams(input);
  const encoded = encodeParams(params);
  const base = new URL(endpoint);
  const pathname = base.pathname === '' ? '/' : base.pathname;
  if (input.method === 'GET') {
    const path = `${pathname}?${encoded}`;
    return {
      method: 'GET',
      url: `${base.origin}${path}`,
      origin: base.origin,
      path,
      headers: {},
      body: undefined,
      params,
    };
  }
  return {
    method: 'POST',
    url: `${base.origin}${pathname}`,
    origin: base.origin,
    path: pathname,
    headers: { 'content-type': FORM_CONTENT_TYPE },
    body: encoded,
    params,
  };
}
