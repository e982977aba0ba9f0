import { getPriority } from 'node:os';
import { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import type { ThreadNiceOptions, ThreadPriority } from '../src/index.ts';
import { holdsCapSysNice, niceOfThreads } from '../src/index.ts';

/** A worker thread of this process that sets its own nice value when asked, and its kernel thread id. */
type Thread = { tid: number; set(asked: number | null, options?: ThreadNiceOptions): Promise<ThreadPriority> };

const started: Worker[] = [];
afterEach(async () => {
  await Promise.all(started.splice(0).map((worker) => worker.terminate()));
});

async function startThread(): Promise<Thread> {
  const worker = new Worker(new URL('./fixtures/thread-entry.js', import.meta.url), { execArgv: [] });
  started.push(worker);
  const next = () =>
    new Promise<{ tid: number; priority?: ThreadPriority }>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
  const { tid } = await next();
  return {
    tid,
    set: async (asked, options) => {
      const answer = next();
      worker.postMessage({ asked, options });
      return (await answer).priority!;
    },
  };
}

describe('setThreadNice', () => {
  it('sets the calling thread’s nice value alone: the kernel has it on that thread, the main thread keeps its own', async () => {
    const thread = await startThread();
    expect(await thread.set(7)).toEqual({ nice: 7, asked: 7, refusal: null });
    const nice = niceOfThreads();
    expect(nice.get(thread.tid)).toBe(7);
    expect(nice.get(process.pid)).toBe(0);
    expect(getPriority(0)).toBe(0);
  });

  it('leaves the thread as it is when asked for nothing', async () => {
    const thread = await startThread();
    await thread.set(3);
    expect(await thread.set(null)).toEqual({ nice: 3, asked: null, refusal: null });
    expect(niceOfThreads().get(thread.tid)).toBe(3);
  });

  it('with lowerOnly, never raises a priority: a thread already nicer keeps its value, a less nice one is lowered', async () => {
    const thread = await startThread();
    await thread.set(12);
    expect(await thread.set(10, { lowerOnly: true })).toEqual({ nice: 12, asked: 10, refusal: null });
    expect(niceOfThreads().get(thread.tid)).toBe(12);
    const other = await startThread();
    expect(await other.set(10, { lowerOnly: true })).toEqual({ nice: 10, asked: 10, refusal: null });
    expect(niceOfThreads().get(other.tid)).toBe(10);
  });

  it('raises a priority with CAP_SYS_NICE, and without it says why and leaves the thread as it was', async () => {
    const thread = await startThread();
    const priority = await thread.set(-4);
    if (holdsCapSysNice()) {
      expect(priority).toEqual({ nice: -4, asked: -4, refusal: null });
      expect(niceOfThreads().get(thread.tid)).toBe(-4);
    } else {
      expect(priority).toMatchObject({ nice: 0, asked: -4, refusal: expect.stringContaining('EACCES') });
      expect(niceOfThreads().get(thread.tid)).toBe(0);
    }
    expect(niceOfThreads().get(process.pid)).toBe(0);
  });
});
