import { assertNever } from '@fleet/errors';
import type { ChatText } from './chat-text.ts';

/**
 * The body of one message, per subscription kind:
 *   standard   Standard Webhooks `{ type, timestamp, data }`: the event's type, when it happened (ISO 8601), and
 *              its facts with its id, rollout and account (the same bytes on every attempt, as the signature covers them)
 *   slack      an incoming-webhook message `{ text }` in Slack's mrkdwn
 *   dingtalk   a custom robot markdown message `{ msgtype: "markdown", markdown: { title, text } }`
 */

export const WEBHOOK_KINDS = ['standard', 'slack', 'dingtalk'] as const;
export type WebhookKind = (typeof WEBHOOK_KINDS)[number];

export type StandardEvent = {
  id: bigint;
  type: string;
  rolloutId: string | null;
  userId: string | null;
  data: unknown;
  createdAt: Date;
};

export function standardBody(event: StandardEvent): string {
  const facts = typeof event.data === 'object' && event.data !== null ? event.data : { value: event.data };
  return JSON.stringify({
    type: event.type,
    timestamp: event.createdAt.toISOString(),
    data: { eventId: event.id.toString(), rolloutId: event.rolloutId, userId: event.userId, ...facts },
  });
}

/** Slack mrkdwn needs &, < and > escaped (its "Formatting text" guide); everything else is shown as written. */
function slackEscape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

export function slackBody(text: ChatText): string {
  const lines = [`*${slackEscape(text.title)}*`, ...text.lines.map(slackEscape)];
  if (text.link) lines.push(`<${text.link}|Open the rollout>`);
  return JSON.stringify({ text: lines.join('\n') });
}

/** DingTalk markdown: a line break needs two spaces or a blank line, so facts go in a list. */
export function dingTalkBody(text: ChatText): string {
  const oneLine = (s: string) => s.replace(/\s*\n\s*/g, ' ');
  const parts = [`#### ${oneLine(text.title)}`, ...text.lines.map((l) => `- ${oneLine(l)}`)];
  if (text.link) parts.push(`[Open the rollout](${text.link})`);
  return JSON.stringify({ msgtype: 'markdown', markdown: { title: oneLine(text.title), text: parts.join('\n\n') } });
}

/** The body of a chat kind's message. */
export function chatBody(kind: Exclude<WebhookKind, 'standard'>, text: ChatText): string {
  switch (kind) {
    case 'slack':
      return slackBody(text);
    case 'dingtalk':
      return dingTalkBody(text);
    default:
      return assertNever(kind, 'webhook kind');
  }
}
