import { describe, expect, it } from 'vitest';
import { retryAfterMs } from '../src/retry-after.ts';

describe('retryAfterMs', () => {
  it('reads delta-seconds and HTTP dates, capped, and nothing from an absent or unreadable header', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(retryAfterMs('2', now, 10_000)).toBe(2000);
    expect(retryAfterMs('120', now, 10_000)).toBe(10_000);
    expect(retryAfterMs('Thu, 01 Jan 2026 00:00:05 GMT', now, 10_000)).toBe(5000);
    expect(retryAfterMs('Wed, 31 Dec 2025 23:59:00 GMT', now, 10_000)).toBe(0);
    expect(retryAfterMs(null, now, 10_000)).toBeUndefined();
    expect(retryAfterMs('soon', now, 10_000)).toBeUndefined();
  });
});
