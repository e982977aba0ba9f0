import type http from 'node:http';
import { emptyParams, parseParams, type RequestParams } from './request-params.ts';
import type { V3SignedParts } from './v3-signature.ts';

/**
 * One API request as the gateway sees it: its parameters (query and form body together, the way both signatures
 * treat them) and, for a V3 call, the parts its `Authorization` header signs. A V3 call names its action, version,
 * AccessKey and STS token in headers; they are copied into the parameters under their RPC names (Action, Version,
 * AccessKeyId, SecurityToken), so everything after the signature check (stats, account checks, throttling, the
 * actions) reads one shape whichever way it was signed.
 */
export type ApiRequest = {
  method: 'GET' | 'POST';
  params: RequestParams;
  v3: { parts: V3SignedParts; authorization: string } | undefined;
};

/** A V3 credential in the Authorization header: `ACS3-HMAC-SHA256 Credential=...`. */
const V3_SCHEME = /^\s*ACS3-/;
const CREDENTIAL = /Credential=([^,\s]*)/;

function isForm(req: http.IncomingMessage): boolean {
  const contentType = (req.headers['content-type'] ?? '').toLowerCase();
  return contentType === '' || contentType.includes('application/x-www-form-urlencoded');
}

/**
 * `path` and `query` are the request target already normalised (request-params.ts), split at `?`; `body` the bytes
 * of a POST (undefined for GET).
 */
export function readApiRequest(
  req: http.IncomingMessage,
  method: 'GET' | 'POST',
  path: string,
  query: string,
  body: { text: string; bytes: Buffer } | undefined,
): ApiRequest {
  // Public parameters may sit in the query and the action's in the body; the gateway signs their union.
  const params = parseParams(query, false, emptyParams());
  if (body !== undefined && isForm(req)) parseParams(body.text, true, params);

  const authorization = req.headers.authorization;
  if (authorization === undefined || !V3_SCHEME.test(authorization)) return { method, params, v3: undefined };

  const headers = req.headersDistinct as Record<string, string[] | undefined>;
  const header = (name: string) => headers[name]?.[0];
  const action = header('x-acs-action');
  const version = header('x-acs-version');
  const accessKeyId = CREDENTIAL.exec(authorization)?.[1];
  if (action !== undefined) params.Action = action;
  if (version !== undefined) params.Version = version;
  if (accessKeyId !== undefined) params.AccessKeyId = accessKeyId;
  // STS: the token travels as x-acs-security-token; the account checks read it as SecurityToken, as for v1.
  const securityToken = header('x-acs-security-token');
  if (securityToken !== undefined) params.SecurityToken = securityToken;
  return {
    method,
    params,
    v3: {
      authorization,
      parts: { method, rawPath: path, rawQuery: query, headers, body: body?.bytes ?? Buffer.alloc(0) },
    },
  };
}
