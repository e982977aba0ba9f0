import { assertNever } from '@fleet/errors';
import { nextAttemptDelayMs, parseRetryAfter } from './retry-schedule.ts';
import type { WebhookAnswer } from './send-webhook.ts';

/**
 * What one attempt of a delivery came to, and what happens next, as values (no I/O):
 *   2xx                          delivered
 *   410 Gone                     the subscription is disabled (`gone`), the message is given up
 *   anything else, or no answer  retried on the schedule (Retry-After honoured), given up when it is spent;
 *                                and when the subscription's failures have run for `disableAfterMs` (5 days) in a
 *                                row, it is disabled (`failing`)
 * Only 2xx is success: a 3xx is not followed and counts as a failure.
 */

/** How an attempt went, as the delivery log stores it. */
export type AttemptOutcome =
  'delivered' | 'http_error' | 'gone' | 'redirect' | 'timeout' | 'network_error' | 'address_refused';

export type AttemptDecision =
  | { kind: 'delivered'; outcome: 'delivered' }
  | { kind: 'retry'; outcome: AttemptOutcome; delayMs: number }
  | { kind: 'give_up'; outcome: AttemptOutcome }
  | { kind: 'disable'; outcome: AttemptOutcome; reason: 'gone' | 'failing' };

export function outcomeOf(answer: WebhookAnswer): AttemptOutcome {
  switch (answer.kind) {
    case 'answered':
      if (answer.status >= 200 && answer.status < 300) return 'delivered';
      if (answer.status === 410) return 'gone';
      if (answer.status >= 300 && answer.status < 400) return 'redirect';
      return 'http_error';
    case 'no_answer':
      return answer.failure;
    default:
      return assertNever(answer, 'webhook answer');
  }
}

export type AttemptFacts = {
  answer: WebhookAnswer;
  /** Attempts made of this delivery, this one included (1 after the first). */
  attemptsMade: number;
  /** Delays after each failed attempt, in ms (retry-schedule.ts). */
  schedule: readonly number[];
  /** When the subscription's current run of failures began (null: the last attempt it had succeeded). */
  failingSince: Date | null;
  /** A subscription failing this long in a row is disabled, in ms (default of the notifier: 5 days). */
  disableAfterMs: number;
  now: Date;
  random?: () => number;
};

export function decideAfterAttempt(facts: AttemptFacts): AttemptDecision {
  const outcome = outcomeOf(facts.answer);
  switch (outcome) {
    case 'delivered':
      return { kind: 'delivered', outcome };
    case 'gone':
      return { kind: 'disable', outcome, reason: 'gone' };
    case 'http_error':
    case 'redirect':
    case 'timeout':
    case 'network_error':
    case 'address_refused': {
      const failingFor = facts.now.getTime() - (facts.failingSince ?? facts.now).getTime();
      if (failingFor >= facts.disableAfterMs) return { kind: 'disable', outcome, reason: 'failing' };
      const retryAfterMs =
        facts.answer.kind === 'answered' ? parseRetryAfter(facts.answer.retryAfter, facts.now) : undefined;
      const delayMs = nextAttemptDelayMs(facts.schedule, facts.attemptsMade, {
        retryAfterMs,
        ...(facts.random ? { random: facts.random } : {}),
      });
      return delayMs === null ? { kind: 'give_up', outcome } : { kind: 'retry', outcome, delayMs };
    }
    default:
      return assertNever(outcome, 'attempt outcome');
  }
}

/** What the delivery log keeps of an answer: the excerpt, or for a redirect where it pointed, or the error. */
export function answerExcerpt(answer: WebhookAnswer): string {
  if (answer.kind === 'no_answer') return answer.message;
  if (answer.status >= 300 && answer.status < 400 && answer.location !== undefined)
    return `redirect to ${answer.location} not followed`;
  return answer.excerpt;
}
