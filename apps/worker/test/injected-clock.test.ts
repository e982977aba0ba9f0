import { afterEach, describe, expect, it } from 'vitest';
import { instanceIds } from '@fleet/testing';
import type { WorkerHarness } from './support.ts';
import { rolloutFacts, startHarness } from './support.ts';

let h: WorkerHarness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const HOUR_MS = 3_600_000;

/**
 * Every instance answers 503 once and is failed on its second attempt, due 400 to 800 ms after the first (equal
 * jitter of an 800 ms step). Returns, per instance, the ms between the answers of its two calls: both are times of the
 * CloudMonitor client (the system clock), whatever clock the processor was given.
 */
async function retryGapsWith(harness: WorkerHarness, tag: string, now: () => Date): Promise<number[]> {
  const rolloutId = await harness.createRollout(instanceIds(5, tag), {
    concurrency: 5,
    retry: { maxAttempts: 2, baseDelayMs: 800, maxDelayMs: 800 },
  });
  const pool = await harness.startPool({ now });
  // An hour's error in the wait would leave the rollout running well past this.
  await harness.waitForRolloutStatus(rolloutId, 'completed', 20_000);
  await pool.stop();
  const facts = await rolloutFacts(harness.db, rolloutId);
  expect(facts.map((i) => [i.state, i.attemptCount])).toEqual(Array(5).fill(['failed', 2]));
  return facts.map((i) => i.attempts[1]!.finishedAt!.getTime() - i.attempts[0]!.finishedAt!.getTime());
}

describe('the install processor reads time from its injected clock', () => {
  it('waits out the retry backoff, not an hour more, when its clock runs an hour ahead of the system clock', async () => {
    h = await startHarness({ latencyMs: 1, errorRate503: 1 });
    // A retry is due at the injected clock's now + backoff: the wait must be measured on that same clock. Measured
    // on the system clock, as it was, every retry here would wait an hour longer.
    const gaps = await retryGapsWith(h, 'i-ahead', () => new Date(Date.now() + HOUR_MS));
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(390);
    expect(Math.max(...gaps)).toBeLessThan(5_000);
  });
});
