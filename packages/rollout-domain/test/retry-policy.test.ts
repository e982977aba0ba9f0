import { describe, expect, it } from 'vitest';
import { DEFAULT_RETRY_POLICY, manualInstallReasonFor, retryDelayMs, THROTTLE_DELAY_FACTOR } from '../src/index.ts';

const policy = { maxAttempts: 5, baseDelayMs: 1000, maxDelayMs: 10_000 };

describe('retry delay', () => {
  it('doubles per attempt with half of each step random (equal jitter)', () => {
    expect(retryDelayMs(policy, 1, 'transient', () => 0)).toBe(500);
    expect(retryDelayMs(policy, 1, 'transient', () => 0.999999)).toBe(1000);
    expect(retryDelayMs(policy, 2, 'transient', () => 0)).toBe(1000);
    expect(retryDelayMs(policy, 3, 'transient', () => 0)).toBe(2000);
  });

  it('never exceeds maxDelayMs however many attempts failed', () => {
    expect(retryDelayMs(policy, 30, 'transient', () => 0.999999)).toBe(10_000);
  });

  it('backs off harder after throttling', () => {
    expect(retryDelayMs(policy, 1, 'throttled', () => 0)).toBe((1000 * THROTTLE_DELAY_FACTOR) / 2);
  });

  it('has documented defaults', () => {
    expect(DEFAULT_RETRY_POLICY).toEqual({ maxAttempts: 4, baseDelayMs: 1000, maxDelayMs: 60_000 });
  });
});

describe('manual install reason', () => {
  const base = { outcomeKind: 'final', errorCode: null, errorMessage: null, httpStatus: 200, retriesExhausted: false };
  it('names each category', () => {
    expect(manualInstallReasonFor({ ...base, retriesExhausted: true, outcomeKind: 'retryable' })).toBe(
      'retries_exhausted',
    );
    expect(manualInstallReasonFor({ ...base, httpStatus: 404, errorCode: 'InvalidInstanceId.NotFound' })).toBe(
      'instance_not_found',
    );
    expect(
      manualInstallReasonFor({
        ...base,
        outcomeKind: 'fleet_wide',
        httpStatus: 400,
        errorCode: 'SignatureDoesNotMatch',
      }),
    ).toBe('permission_denied');
    expect(
      manualInstallReasonFor({
        ...base,
        errorCode: '400',
        errorMessage: 'The Server Guard agent is not online on the instance',
      }),
    ).toBe('no_server_guard_agent');
    expect(manualInstallReasonFor({ ...base, errorCode: '400', errorMessage: 'bad request' })).toBe('rejected');
  });
});
