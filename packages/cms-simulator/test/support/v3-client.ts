import { createHash, createHmac, randomUUID } from 'node:crypto';
import { KEY_ID, SECRET, isoSeconds, rawRequest, type RawResponse } from './client.ts';

/**
 * A V3 (`ACS3-HMAC-SHA256`) signer written for the tests from Alibaba's published description, separate from the
 * simulator's verifier and the client's signer, with knobs to break one part of a request at a time.
 */

function rfc3986(text: string): string {
  return Array.from(Buffer.from(text, 'utf8'), (byte) => {
    const char = String.fromCharCode(byte);
    return /[A-Za-z0-9\-_.~]/.test(char) ? char : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }).join('');
}

const sha256 = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');

export type V3CallOptions = {
  method?: 'GET' | 'POST';
  version?: string;
  accessKeyId?: string;
  secret?: string;
  date?: string;
  nonce?: string;
  /** Action parameters in the query string (default) or, for POST, in a form body. */
  paramsIn?: 'query' | 'body';
  /** Headers added after signing (not in SignedHeaders), or removed before sending. */
  extraHeaders?: Record<string, string>;
  dropHeaders?: string[];
  /** Replaces the Authorization header entirely. */
  authorization?: string;
  /** Changes the body after signing. */
  tamperBody?: (body: string) => string;
  /** Leaves these names out of SignedHeaders (they are still sent). */
  unsigned?: string[];
};

type V3Request = { url: string; method: string; headers: Record<string, string>; body: string | undefined };

export function signV3(baseUrl: string, action: string, params: Record<string, string>, options: V3CallOptions = {}) {
  const method = options.method ?? 'POST';
  const url = new URL(baseUrl);
  const encoded = Object.entries(params)
    .map(([name, value]) => `${rfc3986(name)}=${rfc3986(value)}`)
    .join('&');
  const inBody = method === 'POST' && options.paramsIn === 'body';
  const query = inBody ? '' : encoded;
  const body = inBody ? encoded : '';
  const headers: Record<string, string> = {
    host: url.host,
    'x-acs-action': action,
    'x-acs-version': options.version ?? '2017-03-01',
    'x-acs-date': options.date ?? isoSeconds(Date.now()),
    'x-acs-signature-nonce': options.nonce ?? randomUUID(),
    'x-acs-content-sha256': sha256(body),
  };
  if (inBody) headers['content-type'] = 'application/x-www-form-urlencoded';
  const signedNames = Object.keys(headers)
    .filter((name) => !(options.unsigned ?? []).includes(name))
    .sort();
  const canonicalQuery = Object.entries(params)
    .map(([name, value]) => [rfc3986(name), rfc3986(value)] as const)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([name, value]) => `${name}=${value}`)
    .join('&');
  const canonicalRequest = [
    method,
    '/',
    inBody ? '' : canonicalQuery,
    signedNames.map((name) => `${name}:${headers[name]!.trim()}\n`).join(''),
    signedNames.join(';'),
    sha256(body),
  ].join('\n');
  const stringToSign = `ACS3-HMAC-SHA256\n${sha256(canonicalRequest)}`;
  const signature = createHmac('sha256', options.secret ?? SECRET)
    .update(stringToSign)
    .digest('hex');
  headers.authorization =
    options.authorization ??
    `ACS3-HMAC-SHA256 Credential=${options.accessKeyId ?? KEY_ID},SignedHeaders=${signedNames.join(';')},Signature=${signature}`;
  Object.assign(headers, options.extraHeaders ?? {});
  for (const name of options.dropHeaders ?? []) delete headers[name];
  const sentBody = options.tamperBody ? options.tamperBody(body) : body;
  return {
    request: {
      url: `${url.origin}/${query === '' ? '' : `?${query}`}`,
      method,
      headers,
      body: method === 'POST' ? sentBody : undefined,
    } satisfies V3Request,
    canonicalRequest,
    stringToSign,
  };
}

export async function callV3(
  baseUrl: string,
  action: string,
  params: Record<string, string>,
  options: V3CallOptions = {},
): Promise<{ status: number; body: Record<string, unknown>; raw: RawResponse }> {
  const { request } = signV3(baseUrl, action, params, options);
  const raw = await rawRequest(request.url, request);
  return { status: raw.status, body: JSON.parse(raw.body) as Record<string, unknown>, raw };
}
