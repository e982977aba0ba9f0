import { assertNever } from '@fleet/errors';
import type { ChatText } from './chat-text.ts';
import { dingTalkSignedUrl } from './dingtalk-sign.ts';
import type { StandardEvent, WebhookKind } from './message-bodies.ts';
import { chatBody, standardBody } from './message-bodies.ts';
import { signStandardWebhook } from './standard-signature.ts';

/**
 * The HTTP request of one attempt: URL, headers and body. Every kind carries the Standard Webhooks headers (a chat
 * ignores them; a proxy in between may verify or de-duplicate by them); a DingTalk robot with a secret also gets its
 * `timestamp` and `sign` in the URL. Made afresh per attempt: the timestamp is the attempt's, the id the message's.
 */
export type AttemptRequest = { url: string; headers: Record<string, string>; body: string };

export type AttemptRequestInput = {
  kind: WebhookKind;
  url: string;
  /** The delivery's id (`webhook-id`). */
  messageId: string;
  event: StandardEvent;
  /** The human text of a chat kind's message. */
  chat: ChatText;
  /** Signing secrets in clear, current first. */
  secrets: readonly string[];
  /** A DingTalk robot's signing secret in clear, if it has one. */
  robotSecret: string | null;
  now: Date;
};

function bodyOf(input: AttemptRequestInput): string {
  switch (input.kind) {
    case 'standard':
      return standardBody(input.event);
    case 'slack':
    case 'dingtalk':
      return chatBody(input.kind, input.chat);
    default:
      return assertNever(input.kind, 'webhook kind');
  }
}

export function buildAttemptRequest(input: AttemptRequestInput): AttemptRequest {
  const body = bodyOf(input);
  const headers = signStandardWebhook({
    messageId: input.messageId,
    timestampSeconds: Math.floor(input.now.getTime() / 1000),
    body,
    secrets: input.secrets,
  });
  const url =
    input.kind === 'dingtalk' && input.robotSecret
      ? dingTalkSignedUrl(input.url, input.robotSecret, input.now.getTime())
      : input.url;
  return { url, headers: { ...headers }, body };
}
