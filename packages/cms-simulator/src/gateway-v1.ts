import { timingSafeEqual } from 'node:crypto';
import {
  ACCESS_KEY_NOT_FOUND,
  checkTimestamp,
  missingParameter,
  rejection,
  type AuthenticationVerdict,
} from './gateway-common.ts';
import type { RequestParams } from './request-params.ts';
import { rpcSignature, rpcStringToSign } from './rpc-signature.ts';

/**
 * The RPC signature 1.0 check, in the gateway's order: required public parameters, the signature algorithm, the
 * timestamp, the AccessKey, then the signature itself. A mismatch answers `SignatureDoesNotMatch` with the server's
 * string to sign after a colon, as the gateway does, so a client can compare it with its own.
 */

/** Checked in this order; the first missing (or empty) one is reported. */
const REQUIRED_PUBLIC_PARAMS = [
  'Action',
  'Version',
  'AccessKeyId',
  'Signature',
  'SignatureMethod',
  'SignatureVersion',
  'SignatureNonce',
  'Timestamp',
] as const;

export function sameText(received: string, expected: string): boolean {
  const a = Buffer.from(received, 'utf8');
  const b = Buffer.from(expected, 'utf8');
  return a.length === b.length && timingSafeEqual(a, b);
}

export function authenticateV1(
  method: 'GET' | 'POST',
  params: RequestParams,
  accessKeys: ReadonlyMap<string, string>,
  nowMs: number,
): AuthenticationVerdict {
  for (const name of REQUIRED_PUBLIC_PARAMS) {
    const value = params[name];
    if (value === undefined || value === '') return { kind: 'rejected', ...missingParameter(name) };
  }
  if (params.SignatureMethod !== 'HMAC-SHA1') {
    return rejection(400, 'InvalidSignatureMethod', 'Specified signature method is not supported.');
  }
  if (params.SignatureVersion !== '1.0') {
    return rejection(400, 'InvalidSignatureVersion', 'Specified signature version is not supported.');
  }
  const stale = checkTimestamp(params.Timestamp!, nowMs);
  if (stale) return { kind: 'rejected', ...stale };

  const accessKeyId = params.AccessKeyId!;
  const secret = accessKeys.get(accessKeyId);
  if (secret === undefined) return { kind: 'rejected', ...ACCESS_KEY_NOT_FOUND };

  const serverStringToSign = rpcStringToSign(method, params);
  if (!sameText(params.Signature!, rpcSignature(serverStringToSign, secret))) {
    return rejection(
      400,
      'SignatureDoesNotMatch',
      `Specified signature is not matched with our calculation. server string to sign is:${serverStringToSign}`,
    );
  }
  return { kind: 'authenticated', accessKeyId, nonce: params.SignatureNonce! };
}
