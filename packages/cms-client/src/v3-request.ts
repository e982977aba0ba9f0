import { FleetError } from '@fleet/errors';
import {
  DEFAULT_API_VERSION,
  encodeParams,
  flattenActionParams,
  formatTimestamp,
  FORM_CONTENT_TYPE,
  requestNonce,
  type PreparedRequest,
  type SignedParamsInput,
} from './request-params.ts';
import { sha256Hex, v3Authorization } from './v3-signature.ts';

/**
 * An RPC-style call signed with V3 (`ACS3-HMAC-SHA256`): the public parameters travel as headers (`x-acs-action`,
 * `x-acs-version`, `x-acs-date`, `x-acs-signature-nonce`, `x-acs-content-sha256`, `x-acs-security-token` with STS),
 * the action's own parameters in the query string (GET) or an `application/x-www-form-urlencoded` body (POST), whose
 * SHA-256 the signature covers. There is no Format parameter: V3 answers are JSON.
 */

export function prepareV3Request(endpoint: string | URL, input: SignedParamsInput): PreparedRequest {
  const { credentials } = input;
  if (input.action.length === 0) throw new FleetError('cms_request_invalid', 'action must not be empty');
  const params = flattenActionParams(input.params ?? {});
  const base = new URL(endpoint);
  const path = base.pathname === '' ? '/' : base.pathname;
  const encoded = encodeParams(params);
  const body = input.method === 'POST' ? encoded : undefined;
  const query = input.method === 'GET' ? params : {};

  const hashedPayload = sha256Hex(body ?? '');
  const headers: Record<string, string> = {
    // Signed, so it must be exactly what goes on the wire: host[:port] of the endpoint, as undici sends it.
    host: base.host,
    'x-acs-action': input.action,
    'x-acs-version': input.version ?? DEFAULT_API_VERSION,
    'x-acs-date': formatTimestamp((input.now ?? (() => new Date()))()),
    'x-acs-signature-nonce': requestNonce(input.nonce),
    'x-acs-content-sha256': hashedPayload,
    accept: 'application/json',
  };
  if (body !== undefined) headers['content-type'] = FORM_CONTENT_TYPE;
  if (credentials.securityToken !== undefined && credentials.securityToken !== '') {
    headers['x-acs-security-token'] = credentials.securityToken;
  }
  headers['authorization'] = v3Authorization(
    { method: input.method, path, query, headers, hashedPayload },
    credentials.accessKeyId,
    credentials.accessKeySecret,
  );

  const requestPath = input.method === 'GET' && encoded !== '' ? `${path}?${encoded}` : path;
  return {
    method: input.method,
    url: `${base.origin}${requestPath}`,
    origin: base.origin,
    path: requestPath,
    headers,
    body,
    params,
  };
}
