import { describe, expect, it } from 'vitest';
import type { WebhookAnswer } from '../src/index.ts';
import { DEFAULT_RETRY_DELAYS_MS, decideAfterAttempt, nextAttemptDelayMs, parseRetryAfter } from '../src/index.ts';

const answered = (
  status: number,
  extra: Partial<Extract<WebhookAnswer, { kind: 'answered' }>> = {},
): WebhookAnswer => ({
  kind: 'answered',
  status,
  excerpt: '',
  retryAfter: undefined,
  location: undefined,
  latencyMs: 5,
  ...extra,
});
const now = new Date('2026-12-02T05:00:00.000Z');
const base = {
  schedule: DEFAULT_RETRY_DELAYS_MS,
  failingSince: null,
  disableAfterMs: 5 * 86_400_000,
  now,
  random: () => 0.5,
};

describe('retry schedule', () => {
  it("is Svix's: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h after the attempts that failed, then nothing", () => {
    const delays = [1, 2, 3, 4, 5, 6, 7, 8].map((n) =>
      nextAttemptDelayMs(DEFAULT_RETRY_DELAYS_MS, n, { random: () => 0.5 }),
    );
    expect(delays).toEqual([5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 36_000_000, null]);
  });

  it('moves each delay by at most 10 % either way', () => {
    expect(nextAttemptDelayMs([10_000], 1, { random: () => 0 })).toBe(9_000);
    expect(nextAttemptDelayMs([10_000], 1, { random: () => 0.999_999 })).toBe(11_000);
  });

  it('honours a longer Retry-After, but no longer than the longest step', () => {
    expect(nextAttemptDelayMs([5_000, 60_000], 1, { retryAfterMs: 30_000, random: () => 0.5 })).toBe(30_000);
    expect(nextAttemptDelayMs([5_000, 60_000], 1, { retryAfterMs: 10 * 86_400_000, random: () => 0.5 })).toBe(60_000);
    expect(nextAttemptDelayMs([5_000, 60_000], 1, { retryAfterMs: 1_000, random: () => 0.5 })).toBe(5_000);
  });

  it('reads Retry-After as seconds or as an HTTP date', () => {
    expect(parseRetryAfter('120', now)).toBe(120_000);
    expect(parseRetryAfter('Wed, 02 Dec 2026 05:01:00 GMT', now)).toBe(60_000);
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter(undefined, now)).toBeUndefined();
  });
});

describe('after an attempt', () => {
  it('a 2xx is delivered; a 3xx is a failure (redirects are not followed)', () => {
    expect(decideAfterAttempt({ ...base, answer: answered(204), attemptsMade: 1 })).toEqual({
      kind: 'delivered',
      outcome: 'delivered',
    });
    expect(
      decideAfterAttempt({ ...base, answer: answered(302, { location: 'http://127.0.0.1/' }), attemptsMade: 1 }),
    ).toEqual({
      kind: 'retry',
      outcome: 'redirect',
      delayMs: 5_000,
    });
  });

  it('a 410 disables the subscription at once', () => {
    expect(decideAfterAttempt({ ...base, answer: answered(410), attemptsMade: 1 })).toEqual({
      kind: 'disable',
      outcome: 'gone',
      reason: 'gone',
    });
  });

  it('a 503 with Retry-After waits as long as asked', () => {
    expect(decideAfterAttempt({ ...base, answer: answered(503, { retryAfter: '60' }), attemptsMade: 1 })).toMatchObject(
      {
        kind: 'retry',
        delayMs: 60_000,
      },
    );
  });

  it('gives up after the eighth attempt', () => {
    expect(decideAfterAttempt({ ...base, answer: answered(500), attemptsMade: 8 })).toEqual({
      kind: 'give_up',
      outcome: 'http_error',
    });
  });

  it('disables a subscription whose failures have run for five days, not one failing for less', () => {
    const timeout: WebhookAnswer = { kind: 'no_answer', failure: 'timeout', message: 'no answer', latencyMs: 15_000 };
    const fiveDaysAgo = new Date(now.getTime() - 5 * 86_400_000);
    const almost = new Date(now.getTime() - 5 * 86_400_000 + 1000);
    expect(decideAfterAttempt({ ...base, answer: timeout, attemptsMade: 3, failingSince: fiveDaysAgo })).toEqual({
      kind: 'disable',
      outcome: 'timeout',
      reason: 'failing',
    });
    expect(decideAfterAttempt({ ...base, answer: timeout, attemptsMade: 3, failingSince: almost })).toMatchObject({
      kind: 'retry',
    });
  });
});
