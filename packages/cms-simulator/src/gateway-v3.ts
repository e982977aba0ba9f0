import {
  ACCESS_KEY_NOT_FOUND,
  checkTimestamp,
  missingParameter,
  rejection,
  type AuthenticationVerdict,
} from './gateway-common.ts';
import { sameText } from './gateway-v1.ts';
import {
  parseV3Authorization,
  V3_ALGORITHM,
  v3CanonicalRequest,
  v3Signature,
  v3StringToSign,
  type V3SignedParts,
} from './v3-signature.ts';

/**
 * The V3 (`ACS3-HMAC-SHA256`) check, in the gateway's order: the Authorization header's shape, the algorithm, the
 * public headers (present, and every one of them signed), the date, the AccessKey, then the signature itself. A
 * mismatch answers `SignatureDoesNotMatch` carrying the server's canonical request and string to sign, so a client
 * can diff them against its own (the v1 answer carries the string to sign the same way).
 */

/** The public headers of a V3 call and the parameter each stands for (the name a missing one is reported by). */
const REQUIRED_HEADERS = [
  ['x-acs-action', 'Action'],
  ['x-acs-version', 'Version'],
  ['x-acs-date', 'Timestamp'],
  ['x-acs-signature-nonce', 'SignatureNonce'],
] as const;

/** Must be signed whenever present; `host` and `x-acs-content-sha256` must also be present. */
const ALWAYS_SIGNED = ['host', 'x-acs-content-sha256'] as const;

function incomplete(detail: string): { kind: 'rejected'; status: number; code: string; message: string } {
  return rejection(400, 'IncompleteSignature', `The request signature does not conform to Aliyun standards. ${detail}`);
}

function single(parts: V3SignedParts, name: string): string | undefined {
  const value = parts.headers[name]?.[0]?.trim();
  return value === undefined || value === '' ? undefined : value;
}

export function authenticateV3(
  parts: V3SignedParts,
  authorizationHeader: string,
  accessKeys: ReadonlyMap<string, string>,
  nowMs: number,
): AuthenticationVerdict {
  const authorization = parseV3Authorization(authorizationHeader);
  if ('missing' in authorization) return incomplete(`The Authorization header has no ${authorization.missing}.`);
  if (authorization.algorithm !== V3_ALGORITHM) {
    return rejection(
      400,
      'InvalidSignatureMethod',
      `Specified signature method ${authorization.algorithm} is not supported.`,
    );
  }
  for (const [header, param] of REQUIRED_HEADERS) {
    if (single(parts, header) === undefined) return { kind: 'rejected', ...missingParameter(param) };
  }
  for (const header of ALWAYS_SIGNED) {
    if (single(parts, header) === undefined) return incomplete(`The header ${header} is missing.`);
  }
  const signed = new Set(authorization.signedHeaders);
  const mustSign = [...ALWAYS_SIGNED, ...Object.keys(parts.headers).filter((name) => name.startsWith('x-acs-'))];
  const unsigned = mustSign.find((name) => !signed.has(name));
  if (unsigned !== undefined) return incomplete(`The header ${unsigned} is not in SignedHeaders.`);

  const stale = checkTimestamp(single(parts, 'x-acs-date')!, nowMs);
  if (stale) return { kind: 'rejected', ...stale };

  const secret = accessKeys.get(authorization.accessKeyId);
  if (secret === undefined) return { kind: 'rejected', ...ACCESS_KEY_NOT_FOUND };

  const canonicalRequest = v3CanonicalRequest(parts, authorization.signedHeaders);
  const stringToSign = v3StringToSign(canonicalRequest);
  if (!sameText(authorization.signature, v3Signature(stringToSign, secret))) {
    return rejection(
      400,
      'SignatureDoesNotMatch',
      `Specified signature does not match our calculation. server canonical request is:${canonicalRequest}` +
        `\nserver string to sign is:${stringToSign}`,
    );
  }
  return {
    kind: 'authenticated',
    accessKeyId: authorization.accessKeyId,
    nonce: single(parts, 'x-acs-signature-nonce')!,
  };
}
