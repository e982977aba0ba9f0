import { describe, expect, it } from 'vitest';
import { waitFor } from '@fleet/testing';
import { completionHoldMs } from '../src/after-final.ts';
import { createTrailingChecks } from '../src/trailing-checks.ts';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A check that takes `tookMs` and records when each of its runs started, per key. */
function recordingCheck(tookMs: number) {
  const starts: { key: string; at: number }[] = [];
  return {
    starts,
    async check(key: string) {
      starts.push({ key, at: Date.now() });
      await sleep(tookMs);
    },
  };
}

describe('trailing checks', () => {
  it('checks at once when nothing runs, and again at once after an idle spell', async () => {
    const { starts, check } = recordingCheck(5);
    const checks = createTrailingChecks(check, 100, () => undefined);
    const t0 = Date.now();
    checks.request('r1');
    expect(starts).toHaveLength(1);
    await sleep(30);
    checks.request('r1');
    expect(starts).toHaveLength(2);
    expect(starts[1]!.at - t0).toBeLessThan(80);
  });

  it('answers every request made while a check runs with one check after it, no sooner than the interval', async () => {
    const { starts, check } = recordingCheck(20);
    const checks = createTrailingChecks(check, 150, () => undefined);
    checks.request('r1');
    checks.request('r1');
    await sleep(5);
    checks.request('r1');
    checks.request('r1');
    await waitFor('the trailing check', () => starts.length === 2, { timeoutMs: 2000, intervalMs: 5 });
    await sleep(250);
    expect(starts).toHaveLength(2);
    expect(starts[1]!.at - starts[0]!.at).toBeGreaterThanOrEqual(145);
  });

  it('runs the next check as soon as a check longer than the interval ends', async () => {
    const { starts, check } = recordingCheck(120);
    const checks = createTrailingChecks(check, 30, () => undefined);
    checks.request('r1');
    await sleep(10);
    checks.request('r1');
    await waitFor('the trailing check', () => starts.length === 2, { timeoutMs: 2000, intervalMs: 5 });
    const gap = starts[1]!.at - starts[0]!.at;
    expect(gap).toBeGreaterThanOrEqual(115);
    expect(gap).toBeLessThan(200);
  });

  it('keeps keys apart, and reports a failed check without stopping later ones', async () => {
    const errors: string[] = [];
    let calls = 0;
    const checks = createTrailingChecks(
      async (key) => {
        calls++;
        if (calls === 1) throw new Error(`boom ${key}`);
      },
      20,
      (key, error) => errors.push(`${key}: ${(error as Error).message}`),
    );
    checks.request('r1');
    checks.request('r2');
    await waitFor('the failure to be reported', () => errors.length === 1, { timeoutMs: 1000, intervalMs: 5 });
    expect(errors).toEqual(['r1: boom r1']);
    expect(calls).toBe(2);
    await sleep(30);
    checks.request('r1');
    await waitFor('the next check', () => calls === 3, { timeoutMs: 1000, intervalMs: 5 });
  });

  it('holds every request back for the wait a check answered, then checks once for all of them', async () => {
    const starts: number[] = [];
    const checks = createTrailingChecks(
      async () => {
        starts.push(Date.now());
        return starts.length === 1 ? 200 : undefined;
      },
      20,
      () => undefined,
    );
    checks.request('r1');
    // After the check and its 20 ms interval, but inside the 200 ms it answered: these wait for its end.
    await sleep(60);
    checks.request('r1');
    checks.request('r1');
    await sleep(60);
    expect(starts).toHaveLength(1);
    await waitFor('the held check', () => starts.length === 2, { timeoutMs: 1000, intervalMs: 5 });
    expect(starts[1]! - starts[0]!).toBeGreaterThanOrEqual(195);
    // That check answered no wait: a request after it is checked at once again.
    await sleep(40);
    checks.request('r1');
    expect(starts).toHaveLength(3);
  });
});

describe('completionHoldMs', () => {
  it("is half the time the open instances need at the account's rate, at most a second, none when done", () => {
    expect(completionHoldMs(100, 50)).toBe(1000);
    expect(completionHoldMs(40, 50)).toBe(400);
    expect(completionHoldMs(100, 500)).toBe(100);
    expect(completionHoldMs(10_000, 5_000)).toBe(1000);
    expect(completionHoldMs(1, 5_000)).toBe(0.1);
    expect(completionHoldMs(0, 50)).toBe(0);
  });
});
