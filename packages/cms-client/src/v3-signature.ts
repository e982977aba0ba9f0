import { createHash, createHmac } from 'node:crypto';
import { percentEncode } from './signature.ts';

/**
 * Alibaba Cloud signature V3, `ACS3-HMAC-SHA256`, for RPC-style calls:
 *
 *   CanonicalRequest = Method \n CanonicalURI \n CanonicalQueryString \n CanonicalHeaders \n SignedHeaders \n
 *                      HashedRequestPayload
 *   StringToSign     = "ACS3-HMAC-SHA256" \n hex(SHA-256(CanonicalRequest))
 *   Signature        = hex(HMAC-SHA256(key = AccessKeySecret, StringToSign))
 *   Authorization    = ACS3-HMAC-SHA256 Credential=<AccessKeyId>,SignedHeaders=<names>,Signature=<Signature>
 *
 * CanonicalQueryString: each query name and value percent-encoded (percentEncode: RFC 3986, space %20, `*` %2A,
 * `~` kept), sorted by name in code-unit order, `name=value` joined by `&` (empty value: `name=`). CanonicalHeaders:
 * `host`, `content-type` and every `x-acs-*` header, names lower case and sorted, values trimmed, one `name:value\n`
 * line each; SignedHeaders lists the same names joined by `;`. The key is the secret as it is (v1 appends `&`).
 */

export const V3_ALGORITHM = 'ACS3-HMAC-SHA256';

export function sha256Hex(data: string): string {
  return createHash('sha256').update(data, 'utf8').digest('hex');
}

function byCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export function v3CanonicalQueryString(query: Readonly<Record<string, string>>): string {
  return Object.keys(query)
    .sort(byCodeUnits)
    .map((name) => `${percentEncode(name)}=${percentEncode(query[name]!)}`)
    .join('&');
}

function isSignedHeader(lowerName: string): boolean {
  return lowerName === 'host' || lowerName === 'content-type' || lowerName.startsWith('x-acs-');
}

/** The header block and the SignedHeaders list of the canonical request. */
export function v3CanonicalHeaders(headers: Readonly<Record<string, string>>): {
  canonicalHeaders: string;
  signedHeaders: string;
} {
  const lower = new Map<string, string>();
  for (const [name, value] of Object.entries(headers)) {
    const key = name.toLowerCase();
    if (isSignedHeader(key)) lower.set(key, value.trim());
  }
  const names = [...lower.keys()].sort(byCodeUnits);
  return {
    canonicalHeaders: names.map((name) => `${name}:${lower.get(name)!}\n`).join(''),
    signedHeaders: names.join(';'),
  };
}

export type V3SigningInput = {
  method: 'GET' | 'POST';
  /** The request path; `/` for RPC-style calls. Already in its encoded form. */
  path: string;
  /** Query parameters, not yet encoded. */
  query: Readonly<Record<string, string>>;
  /** Every header to send that the signature covers (host, content-type, x-acs-*); others are ignored. */
  headers: Readonly<Record<string, string>>;
  /** hex SHA-256 of the body as sent (`sha256Hex('')` without one); also the x-acs-content-sha256 header. */
  hashedPayload: string;
};

export function v3CanonicalRequest(input: V3SigningInput): string {
  const { canonicalHeaders, signedHeaders } = v3CanonicalHeaders(input.headers);
  return [
    input.method,
    input.path,
    v3CanonicalQueryString(input.query),
    canonicalHeaders,
    signedHeaders,
    input.hashedPayload,
  ].join('\n');
}

export function v3StringToSign(canonicalRequest: string): string {
  return `${V3_ALGORITHM}\n${sha256Hex(canonicalRequest)}`;
}

/** The `Authorization` header value. The secret is used only as the HMAC key. */
export function v3Authorization(input: V3SigningInput, accessKeyId: string, accessKeySecret: string): string {
  const signature = createHmac('sha256', accessKeySecret)
    .update(v3StringToSign(v3CanonicalRequest(input)), 'utf8')
    .digest('hex');
  const { signedHeaders } = v3CanonicalHeaders(input.headers);
  return `${V3_ALGORITHM} Credential=${accessKeyId},SignedHeaders=${signedHeaders},Signature=${signature}`;
}
