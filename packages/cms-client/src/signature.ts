import { createHmac } from 'node:crypto';

/**
 * Alibaba Cloud RPC signature, version 1.0 (HMAC-SHA1). Used by the client to sign and by the simulator to verify,
 * so both sides share one definition of the canonical string.
 */

/** RFC 3986 percent-encoding as Alibaba's gateway applies it: only A-Z a-z 0-9 - _ . ~ stay as they are. */
export function percentEncode(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

export type SignableParams = Readonly<Record<string, string>>;

/** Sorted, encoded `name=value` pairs joined by `&`, without `Signature`. Sort is by UTF-16 code unit, case-sensitive. */
export function canonicalizedQueryString(params: SignableParams): string {
  return Object.keys(params)
    .filter((name) => name !== 'Signature')
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
    .map((name) => `${percentEncode(name)}=${percentEncode(params[name]!)}`)
    .join('&');
}

export function stringToSign(method: 'GET' | 'POST', params: SignableParams): string {
  return `${method}&${percentEncode('/')}&${percentEncode(canonicalizedQueryString(params))}`;
}

export function signString(text: string, accessKeySecret: string): string {
  return createHmac('sha1', `${accessKeySecret}&`).update(text, 'utf8').digest('base64');
}

export function computeSignature(method: 'GET' | 'POST', params: SignableParams, accessKeySecret: string): string {
  return signString(stringToSign(method, params), accessKeySecret);
}
