import type { WebhookKind } from './message-bodies.ts';

/**
 * A chat kind's URL is its credential: whoever has a Slack incoming-webhook URL (`.../services/T…/B…/<token>`) or a
 * DingTalk robot URL (`...?access_token=<token>`) can post to the channel. It is stored sealed (packages/db
 * sealed-columns.ts) and shown masked; a standard subscription's URL is the receiver's address, signed requests
 * protect it, and it is shown as it is.
 */
export function isSecretUrlKind(kind: WebhookKind): boolean {
  return kind === 'slack' || kind === 'dingtalk';
}

/** Characters shown at the start of a masked piece, and at its end. */
const SHOWN_HEAD = 2;
const SHOWN_TAIL = 4;
/** A piece shorter than this is masked whole: showing a few of its characters would show too much of it. */
const SHORTEST_SHOWN = 8;

const tailOf = (text: string) => (text.length >= SHORTEST_SHOWN ? text.slice(-SHOWN_TAIL) : '');
const headOf = (text: string) => (text.length >= SHORTEST_SHOWN ? text.slice(0, SHOWN_HEAD) : '');

/**
 * The URL as a response shows a chat kind's: scheme, host (and port), the first path segment, then the rest masked
 * but for a few characters to tell two apart: `https://hooks.slack.com/services/T0…/…abcd`; a query's values are
 * masked the same way (`https://oapi.dingtalk.com/robot/send?access_token=…1234`, its path shown). Never a user or
 * password, never a fragment.
 */
export function maskSecretUrl(url: string): string {
  const parsed = new URL(url);
  const origin = `${parsed.protocol}//${parsed.host}`;
  if (parsed.search !== '') {
    const query = [...parsed.searchParams].map(([name, value]) => `${name}=…${tailOf(value)}`).join('&');
    return `${origin}${parsed.pathname}?${query}`;
  }
  const segments = parsed.pathname.split('/').filter((segment) => segment !== '');
  const [first, ...rest] = segments;
  if (first === undefined) return `${origin}/`;
  if (rest.length === 0) return `${origin}/…${tailOf(first)}`;
  const secret = rest.join('/');
  const head = headOf(rest[0]!);
  return rest.length === 1
    ? `${origin}/${first}/${head}…${tailOf(secret)}`
    : `${origin}/${first}/${head}…/…${tailOf(secret)}`;
}
