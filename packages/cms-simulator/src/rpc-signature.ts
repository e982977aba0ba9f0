import { createHmac } from 'node:crypto';
import { gatewayEncode } from './percent-encoding.ts';
import type { RequestParams } from './request-params.ts';

/**
 * RPC signature 1.0 (HMAC-SHA1) as the gateway verifies it: the string to sign is rebuilt from the parameters that
 * arrived (query and form body together, `Signature` left out), sorted by name in code-unit order (case-sensitive,
 * `AccessKeyId` before `Action`), each name and value encoded, joined by `&`, then encoded once more behind the
 * method and the encoded path `/`. The key is the AccessKeySecret followed by `&`; the signature is its Base64.
 */

export function rpcStringToSign(method: 'GET' | 'POST', params: RequestParams): string {
  const names = Object.keys(params).filter((name) => name !== 'Signature');
  // Plain < and > compare UTF-16 code units, which is the gateway's order; localeCompare would fold case.
  names.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  let canonical = '';
  for (const name of names) {
    if (canonical !== '') canonical += '&';
    canonical += `${gatewayEncode(name)}=${gatewayEncode(params[name]!)}`;
  }
  return `${method}&${gatewayEncode('/')}&${gatewayEncode(canonical)}`;
}

export function rpcSignature(stringToSign: string, accessKeySecret: string): string {
  return createHmac('sha1', `${accessKeySecret}&`).update(stringToSign, 'utf8').digest('base64');
}
