import { createHash, createHmac } from 'node:crypto';
import { gatewayEncode } from './percent-encoding.ts';
import { decodeComponent } from './request-params.ts';

/**
 * Signature V3 (`ACS3-HMAC-SHA256`) as the gateway rebuilds it from what arrived:
 *
 *   CanonicalRequest = Method \n CanonicalURI \n CanonicalQueryString \n CanonicalHeaders \n SignedHeaders \n
 *                      HashedRequestPayload
 *   StringToSign     = ACS3-HMAC-SHA256 \n hex(SHA-256(CanonicalRequest))
 *   Signature        = hex(HMAC-SHA256(key = AccessKeySecret, StringToSign))      (no `&` after the secret, unlike v1)
 *
 * CanonicalURI is the path, each segment decoded and re-encoded (RPC-style calls use `/`). CanonicalQueryString is the
 * query's pairs, decoded, sorted by name (then value) in code-unit order, each side encoded, joined by `&`; a name
 * without a value is `name=`. CanonicalHeaders is one `name:value\n` line per signed header, names lower case and
 * sorted, values trimmed (several values of one header sorted and joined by `,`). HashedRequestPayload is the hex
 * SHA-256 of the body bytes as received (of the empty string without a body), whatever x-acs-content-sha256 claims.
 */

export const V3_ALGORITHM = 'ACS3-HMAC-SHA256';

/** The parts of a received request the signature covers. Header names lower case, each with all its values. */
export type V3SignedParts = {
  readonly method: string;
  /** The path as on the request line, not yet decoded. */
  readonly rawPath: string;
  /** The query string as on the request line (without `?`), not yet decoded. */
  readonly rawQuery: string;
  readonly headers: Readonly<Record<string, readonly string[] | undefined>>;
  readonly body: Buffer;
};

type V3Authorization = {
  readonly algorithm: string;
  readonly accessKeyId: string;
  /** Lower case, as listed by the client. */
  readonly signedHeaders: readonly string[];
  readonly signature: string;
};

/**
 * `ACS3-HMAC-SHA256 Credential=<AccessKeyId>,SignedHeaders=<a;b;c>,Signature=<hex>`; the name of the first part that
 * is missing or empty when it does not parse.
 */
export function parseV3Authorization(header: string): V3Authorization | { readonly missing: string } {
  const trimmed = header.trim();
  const space = trimmed.indexOf(' ');
  if (space <= 0) return { missing: 'Credential' };
  const algorithm = trimmed.slice(0, space);
  const fields = new Map<string, string>();
  for (const part of trimmed.slice(space + 1).split(',')) {
    const eq = part.indexOf('=');
    if (eq > 0) fields.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
  }
  for (const name of ['Credential', 'SignedHeaders', 'Signature']) {
    if ((fields.get(name) ?? '') === '') return { missing: name };
  }
  const signedHeaders = fields
    .get('SignedHeaders')!
    .split(';')
    .map((name) => name.trim().toLowerCase())
    .filter((name) => name !== '');
  return { algorithm, accessKeyId: fields.get('Credential')!, signedHeaders, signature: fields.get('Signature')! };
}

function byCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function canonicalUri(rawPath: string): string {
  if (rawPath === '' || rawPath === '/') return '/';
  return rawPath
    .split('/')
    .map((segment) => gatewayEncode(decodeComponent(segment, false)))
    .join('/');
}

function canonicalQueryString(rawQuery: string): string {
  const pairs: [string, string][] = [];
  for (const pair of rawQuery.split('&')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    const name = decodeComponent(eq === -1 ? pair : pair.slice(0, eq), false);
    const value = eq === -1 ? '' : decodeComponent(pair.slice(eq + 1), false);
    pairs.push([gatewayEncode(name), gatewayEncode(value)]);
  }
  pairs.sort((a, b) => byCodeUnits(a[0], b[0]) || byCodeUnits(a[1], b[1]));
  return pairs.map(([name, value]) => `${name}=${value}`).join('&');
}

/** The signed header names as the canonical request lists them: lower case, sorted, each once. */
function canonicalSignedHeaders(signedHeaders: readonly string[]): string[] {
  return [...new Set(signedHeaders.map((name) => name.toLowerCase()))].sort(byCodeUnits);
}

function sha256Hex(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

export function v3CanonicalRequest(parts: V3SignedParts, signedHeaders: readonly string[]): string {
  const names = canonicalSignedHeaders(signedHeaders);
  let headerLines = '';
  for (const name of names) {
    const values = (parts.headers[name] ?? []).map((value) => value.trim()).sort(byCodeUnits);
    headerLines += `${name}:${values.join(',')}\n`;
  }
  return [
    parts.method.toUpperCase(),
    canonicalUri(parts.rawPath),
    canonicalQueryString(parts.rawQuery),
    headerLines,
    names.join(';'),
    sha256Hex(parts.body),
  ].join('\n');
}

export function v3StringToSign(canonicalRequest: string): string {
  return `${V3_ALGORITHM}\n${sha256Hex(canonicalRequest)}`;
}

export function v3Signature(stringToSign: string, accessKeySecret: string): string {
  return createHmac('sha256', accessKeySecret).update(stringToSign, 'utf8').digest('hex');
}
