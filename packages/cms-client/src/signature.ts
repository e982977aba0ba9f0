import { createHmac } from 'node:crypto';
import { FleetError } from '@fleet/errors';

/**
 * Alibaba Cloud RPC signature, version 1.0 (HMAC-SHA1). Used by the client to sign and by the simulator to verify,
 * so both sides share one definition of the canonical string.
 */

// encodeURIComponent already leaves exactly A-Z a-z 0-9 - _ . ~ ! ' ( ) * unencoded and emits upper-case hex for
// everything else (as UTF-8). Alibaba's gateway keeps only the RFC 3986 unreserved set, so the five sub-delims that
// encodeURIComponent spares are encoded afterwards. Table lookup instead of charCodeAt().toString(16) in the hot path.
const SUB_DELIMS_ENCODED: Readonly<Record<string, string>> = {
  '!': '%21',
  "'": '%27',
  '(': '%28',
  ')': '%29',
  '*': '%2A',
};

/** RFC 3986 percent-encoding as Alibaba's gateway applies it: only A-Z a-z 0-9 - _ . ~ stay as they are. */
export function percentEncode(value: string): string {
  let encoded: string;
  try {
    encoded = encodeURIComponent(value);
  } catch (cause) {
    // encodeURIComponent throws URIError on a lone UTF-16 surrogate: such a string has no UTF-8 form, so neither
    // side could agree on its bytes. Surface it as a named programmer error instead of a bare URIError.
    throw new FleetError(
      'signature_input_invalid',
      'a parameter name or value is not well-formed UTF-16 (lone surrogate)',
      {
        cause,
      },
    );
  }
  return encoded.replace(/[!'()*]/g, (c) => SUB_DELIMS_ENCODED[c] ?? c);
}

export type SignableParams = Readonly<Record<string, string>>;

/** Code-unit order, case-sensitive: `AccessKeyId` < `Action`. Never localeCompare, which is locale- and case-folding. */
function compareCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Sorted, encoded `name=value` pairs joined by `&`, without `Signature`. Sort is by UTF-16 code unit, case-sensitive. */
export function canonicalizedQueryString(params: SignableParams): string {
  return Object.keys(params)
    .filter((name) => name !== 'Signature')
    .sort(compareCodeUnits)
    .map((name) => `${percentEncode(name)}=${percentEncode(params[name]!)}`)
    .join('&');
}

export function stringToSign(method: 'GET' | 'POST', params: SignableParams): string {
  return `${method}&${percentEncode('/')}&${percentEncode(canonicalizedQueryString(params))}`;
}

/** Base64(HMAC-SHA1(key = secret + '&', text)). The secret is used only as the HMAC key and never echoed. */
export function signString(text: string, accessKeySecret: string): string {
  return createHmac('sha1', `${accessKeySecret}&`).update(text, 'utf8').digest('base64');
}

export function computeSignature(method: 'GET' | 'POST', params: SignableParams, accessKeySecret: string): string {
  return signString(stringToSign(method, params), accessKeySecret);
}
