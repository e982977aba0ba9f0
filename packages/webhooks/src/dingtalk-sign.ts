import { createHmac } from 'node:crypto';

/**
 * A DingTalk custom robot with a signing secret ("加签") takes `timestamp` (unix milliseconds) and `sign` in its URL:
 * `sign` is the base64 of HMAC-SHA256 keyed by the secret over `timestamp + "\n" + secret`, URL-encoded. DingTalk
 * refuses a timestamp more than an hour off, so it is made at each attempt.
 */
export function dingTalkSign(secret: string, timestampMs: number): string {
  const digest = createHmac('sha256', secret).update(`${timestampMs}\n${secret}`).digest('base64');
  return encodeURIComponent(digest);
}

/** The robot URL with `timestamp` and `sign` appended (any existing query, e.g. access_token, kept). */
export function dingTalkSignedUrl(robotUrl: string, secret: string, timestampMs: number): string {
  const separator = robotUrl.includes('?') ? '&' : '?';
  return `${robotUrl}${separator}timestamp=${timestampMs}&sign=${dingTalkSign(secret, timestampMs)}`;
}
