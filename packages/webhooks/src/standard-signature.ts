import { createHmac } from 'node:crypto';
import { signingKeyOf } from './signing-secret.ts';

/**
 * The three Standard Webhooks headers of one attempt. `webhook-signature` is `v1,<base64 HMAC-SHA256>` over
 * `<id>.<timestamp>.<body>` per secret, space-separated: during a rotation the old and the new secret both sign, so a
 * receiver holding either one verifies. Written with node:crypto rather than the standardwebhooks package: it is a
 * single HMAC, and the tests then verify with that package, an implementation that is not ours.
 */
export type StandardWebhookHeaders = {
  'webhook-id': string;
  'webhook-timestamp': string;
  'webhook-signature': string;
};

export type StandardSignatureInput = {
  /** The message id: the same on every attempt and redelivery of one message. */
  messageId: string;
  /** When this attempt is sent, in unix seconds (receivers refuse one more than 5 minutes off). */
  timestampSeconds: number;
  /** The exact bytes sent. */
  body: string;
  /** The secrets that sign, current first (one, or two during a rotation). */
  secrets: readonly string[];
};

export function signStandardWebhook(input: StandardSignatureInput): StandardWebhookHeaders {
  const timestamp = String(Math.floor(input.timestampSeconds));
  const signed = `${input.messageId}.${timestamp}.${input.body}`;
  const signatures = input.secrets.map(
    (secret) => `v1,${createHmac('sha256', signingKeyOf(secret)).update(signed).digest('base64')}`,
  );
  return {
    'webhook-id': input.messageId,
    'webhook-timestamp': timestamp,
    'webhook-signature': signatures.join(' '),
  };
}
