import { describe, expect, it } from 'vitest';
import { createBackgroundEnqueues } from '../src/background-enqueues.ts';

const after = <T>(ms: number, value: T) => new Promise<T>((resolve) => setTimeout(() => resolve(value), ms));

describe('createBackgroundEnqueues', () => {
  it('answers true for an enqueue that ends within the wait, false for one that fails', async () => {
    const enqueues = createBackgroundEnqueues({ waitMs: 1_000 });
    expect(await enqueues.start(() => after(5, true))).toBe(true);
    expect(await enqueues.start(() => after(5, false))).toBe(false);
    expect(await enqueues.start(() => Promise.reject(new Error('redis gone')))).toBe(false);
    expect(enqueues.running()).toBe(0);
  });

  it('without a wait, answers only once the enqueue has ended', async () => {
    const enqueues = createBackgroundEnqueues();
    expect(await enqueues.start(() => after(50, true))).toBe(true);
    expect(enqueues.running()).toBe(0);
  });

  it('answers false once the wait is over, keeps the enqueue running, and drain() waits for it', async () => {
    const enqueues = createBackgroundEnqueues({ waitMs: 10 });
    let finished = false;
    const answer = await enqueues.start(async () => {
      await after(150, undefined);
      finished = true;
      return true;
    });
    expect(answer).toBe(false);
    expect(finished).toBe(false);
    expect(enqueues.running()).toBe(1);
    await enqueues.drain();
    expect(finished).toBe(true);
    expect(enqueues.running()).toBe(0);
  });
});
