import { timingSafeEqual } from 'node:crypto';
import { signString, stringToSign } from '@fleet/cms-client';
import type { NonceStore } from './nonce-store.ts';
import type { RequestParams } from './request-params.ts';

/**
 * The RPC gateway's checks, in the order it applies them, before an action runs: required public parameters, the
 * signature algorithm, the timestamp, the AccessKey, the signature itself, the nonce, then Version and Action.
 * Pure apart from the nonce store it is handed; answers are the gateway's HTTP status, Code and Message.
 */

export type GatewayRejection = { readonly status: number; readonly code: string; readonly message: string };

export type GatewayVerdict =
  | { readonly kind: 'accepted'; readonly action: string; readonly accessKeyId: string }
  | ({ readonly kind: 'rejected' } & GatewayRejection);

export type GatewayInput = {
  method: 'GET' | 'POST';
  params: RequestParams;
  /** AccessKeyId -> AccessKeySecret. */
  accessKeys: ReadonlyMap<string, string>;
  nonces: NonceStore;
  knownActions: ReadonlySet<string>;
  nowMs: number;
};

/** The API versions under which NodeInstall and its siblings exist. */
export const SUPPORTED_VERSIONS: ReadonlySet<string> = new Set(['2016-09-22', '2017-03-01', '2018-03-08']);

/** Timestamp and nonce are valid for 15 minutes either way. */
export const SIGNATURE_WINDOW_MS = 15 * 60 * 1000;

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

const TIMESTAMP = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})Z$/;

/** `YYYY-MM-DDThh:mm:ssZ` (UTC, no milliseconds) to epoch ms; undefined when malformed or not a real date. */
function parseTimestamp(text: string): number | undefined {
  const match = TIMESTAMP.exec(text);
  if (!match) return undefined;
  const [year, month, day, hour, minute, second] = match.slice(1).map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const ms = Date.UTC(year, month - 1, day, hour, minute, second);
  const check = new Date(ms);
  const real =
    check.getUTCFullYear() === year &&
    check.getUTCMonth() === month - 1 &&
    check.getUTCDate() === day &&
    check.getUTCHours() === hour &&
    check.getUTCMinutes() === minute &&
    check.getUTCSeconds() === second;
  return real ? ms : undefined;
}

export function missingParameter(name: string): GatewayRejection {
  return { status: 400, code: `Missing${name}`, message: `${name} is mandatory for this action.` };
}

function reject(status: number, code: string, message: string): GatewayVerdict {
  return { kind: 'rejected', status, code, message };
}

function sameSignature(received: string, expected: string): boolean {
  const a = Buffer.from(received, 'utf8');
  const b = Buffer.from(expected, 'utf8');
  return a.length === b.length && timingSafeEqual(a, b);
}

export function checkGateway(input: GatewayInput): GatewayVerdict {
  const { params } = input;
  for (const name of REQUIRED_PUBLIC_PARAMS) {
    const value = params[name];
    if (value === undefined || value === '') return { kind: 'rejected', ...missingParameter(name) };
  }
  const action = params.Action!;
  const accessKeyId = params.AccessKeyId!;

  if (params.SignatureMethod !== 'HMAC-SHA1') {
    return reject(400, 'InvalidSignatureMethod', 'Specified signature method is not supported.');
  }
  if (params.SignatureVersion !== '1.0') {
    return reject(400, 'InvalidSignatureVersion', 'Specified signature version is not supported.');
  }
  const timestampMs = parseTimestamp(params.Timestamp!);
  if (timestampMs === undefined) {
    return reject(400, 'InvalidTimeStamp.Format', 'Specified time stamp or date value is not well formatted.');
  }
  if (Math.abs(input.nowMs - timestampMs) > SIGNATURE_WINDOW_MS) {
    return reject(400, 'InvalidTimeStamp.Expired', 'Specified time stamp or date value is expired.');
  }

  const secret = input.accessKeys.get(accessKeyId);
  if (secret === undefined) return reject(404, 'InvalidAccessKeyId.NotFound', 'Specified access key is not found.');

  let serverStringToSign: string;
  try {
    serverStringToSign = stringToSign(input.method, params);
  } catch {
    // Only reachable with text that has no UTF-8 form; the request decoder does not produce it, but never crash.
    return reject(400, 'SignatureDoesNotMatch', 'Specified signature is not matched with our calculation.');
  }
  if (!sameSignature(params.Signature!, signString(serverStringToSign, secret))) {
    return reject(
      400,
      'SignatureDoesNotMatch',
      `Specified signature is not matched with our calculation. server string to sign is:${serverStringToSign}`,
    );
  }

  // Only a correctly signed request may use up a nonce, so a forged request cannot block a genuine one.
  if (input.nonces.checkAndRemember(`${accessKeyId}\n${params.SignatureNonce!}`, input.nowMs)) {
    return reject(400, 'SignatureNonceUsed', 'Specified signature nonce was used already.');
  }
  if (!SUPPORTED_VERSIONS.has(params.Version!)) {
    return reject(400, 'InvalidVersion', 'Specified parameter Version is not valid.');
  }
  if (!input.knownActions.has(action)) {
    return reject(404, 'InvalidAction.NotFound', 'Specified api is not found, please check your url and method.');
  }
  return { kind: 'accepted', action, accessKeyId };
}
