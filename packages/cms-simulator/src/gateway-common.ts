/** What both signature checks (gateway-v1.ts, gateway-v3.ts) share: the answer shapes and the timestamp rule. */

export type GatewayRejection = { readonly status: number; readonly code: string; readonly message: string };

/** A request whose signature verified: who signed it and the nonce it used up (checked afterwards). */
type Authenticated = { readonly kind: 'authenticated'; readonly accessKeyId: string; readonly nonce: string };

export type AuthenticationVerdict = Authenticated | ({ readonly kind: 'rejected' } & GatewayRejection);

/** Timestamp and nonce are valid for 15 minutes either way. */
export const SIGNATURE_WINDOW_MS = 15 * 60 * 1000;

export function rejection(status: number, code: string, message: string): { kind: 'rejected' } & GatewayRejection {
  return { kind: 'rejected', status, code, message };
}

export function missingParameter(name: string): GatewayRejection {
  return { status: 400, code: `Missing${name}`, message: `${name} is mandatory for this action.` };
}

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

/** The format and the 15-minute window, the same for `Timestamp` (v1) and `x-acs-date` (V3). */
export function checkTimestamp(text: string, nowMs: number): GatewayRejection | undefined {
  const timestampMs = parseTimestamp(text);
  if (timestampMs === undefined) {
    return {
      status: 400,
      code: 'InvalidTimeStamp.Format',
      message: 'Specified time stamp or date value is not well formatted.',
    };
  }
  if (Math.abs(nowMs - timestampMs) > SIGNATURE_WINDOW_MS) {
    return { status: 400, code: 'InvalidTimeStamp.Expired', message: 'Specified time stamp or date value is expired.' };
  }
  return undefined;
}

export const ACCESS_KEY_NOT_FOUND: GatewayRejection = {
  status: 404,
  code: 'InvalidAccessKeyId.NotFound',
  message: 'Specified access key is not found.',
};
