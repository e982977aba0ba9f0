/**
 * The short human message of a chat notification (Slack, DingTalk): what happened, to which rollout, its counts, the
 * reason, and a link to it under PUBLIC_BASE_URL. Plain facts in lines; each kind's body (message-bodies.ts) formats
 * them for its chat.
 */

export type ChatFacts = {
  type: string;
  rolloutId: string | null;
  data: unknown;
  /** Instances per state (with `total`) when the event is a rollout's; read when the message is made. */
  counts?: Record<string, number> | undefined;
};

export type ChatText = {
  /** One line: what happened. */
  title: string;
  /** Further lines: counts, the reason. */
  lines: string[];
  /** The rollout's page, when there is a rollout and PUBLIC_BASE_URL. */
  link: string | null;
};

const HEADLINES: Record<string, string> = {
  'rollout.created': 'started',
  'rollout.wave_started': 'started a wave',
  'rollout.paused': 'paused',
  'rollout.resumed': 'resumed',
  'rollout.policy_changed': 'had its policy changed',
  'rollout.aborted': 'aborted',
  'rollout.cancelled': 'was cancelled',
  'rollout.completed': 'completed',
  'rollout.retried': 'was retried',
};

function field(data: unknown, name: string): unknown {
  return typeof data === 'object' && data !== null ? (data as Record<string, unknown>)[name] : undefined;
}

/** Why a pause happened, in words, from its `cause`. */
function pauseCause(cause: unknown): string | null {
  switch (field(cause, 'kind')) {
    case 'operator':
      return 'paused by an operator';
    case 'wave_gate':
      return (
        `wave ${String(field(cause, 'wave'))} fell below its ${String(field(cause, 'thresholdPercent'))} % gate ` +
        `(${String(field(cause, 'succeeded'))} succeeded, ${String(field(cause, 'failed'))} failed)`
      );
    case 'fleet_wide_error':
      return `a fleet-wide error (${String(field(cause, 'code') ?? 'unknown code')})`;
    default:
      return null;
  }
}

function countsLine(counts: Record<string, number>): string {
  const states = ['succeeded', 'failed', 'cancelled', 'in_progress', 'pending'];
  const parts = states.filter((s) => (counts[s] ?? 0) > 0).map((s) => `${counts[s]} ${s.replace('_', ' ')}`);
  const total = counts.total ?? states.reduce((sum, s) => sum + (counts[s] ?? 0), 0);
  return `${parts.length > 0 ? parts.join(', ') : 'no instances'} of ${total}`;
}

/** The rollout's page under PUBLIC_BASE_URL (the API's rollout resource), or null without a base or a rollout. */
export function rolloutLink(publicBaseUrl: string | undefined, rolloutId: string | null): string | null {
  if (!publicBaseUrl || !rolloutId) return null;
  return `${publicBaseUrl.replace(/\/+$/, '')}/v1/rollouts/${rolloutId}`;
}

export function chatText(facts: ChatFacts, publicBaseUrl: string | undefined): ChatText {
  const headline = HEADLINES[facts.type];
  const title = headline && facts.rolloutId ? `Rollout ${facts.rolloutId} ${headline}` : `Fleet event ${facts.type}`;
  const lines: string[] = [];
  const counts = (field(facts.data, 'counts') as Record<string, number> | undefined) ?? facts.counts;
  if (counts && facts.rolloutId) lines.push(`Instances: ${countsLine(counts)}`);
  const cause = facts.type === 'rollout.paused' ? pauseCause(field(facts.data, 'cause')) : null;
  if (cause) lines.push(`Cause: ${cause}`);
  const reason = field(facts.data, 'reason');
  if (typeof reason === 'string' && reason !== '') lines.push(`Reason: ${reason}`);
  const wave = field(facts.data, 'wave');
  if (facts.type === 'rollout.wave_started' && typeof wave === 'number')
    lines.push(`Wave ${wave} of ${String(field(facts.data, 'waveCount'))}`);
  return { title, lines, link: rolloutLink(publicBaseUrl, facts.rolloutId) };
}
