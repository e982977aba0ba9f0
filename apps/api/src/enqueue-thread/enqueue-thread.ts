import { Worker } from 'node:worker_threads';
import type { Logger } from '@fleet/logger';
import type { EnqueueAnswer, EnqueueRequest, EnqueueThreadData } from './thread-messages.ts';

/**
 * A worker thread of the API that hands new rollouts' first waves to Redis. BullMQ builds every job in the process
 * that adds it, about 25 microseconds of CPU a job here plus the pages of instance rows: for a 20,000-instance rollout
 * that is half a second, and on the API's own event loop every request that arrived meanwhile waited behind it (the
 * reads bench's tail: 1 to 2.7 s, all in the seconds of the large rollout's enqueue). In a thread the loop stays free
 * to answer.
 *
 * The thread is the API's own (not a second process to run), started with it; it opens 2 Postgres connections and 1
 * Redis connection.
 * A thread that dies fails the enqueues it held (the rollouts stay `enqueued: false` for the reconciler) and is
 * started again by the next one.
 */
export type EnqueueThread = {
  /** Hands the rollout's first wave to Redis; resolves with the jobs handed over, rejects when it did not finish. */
  enqueue(rolloutId: string, concurrency: number): Promise<number>;
  /**
   * Lets the enqueues asked for so far finish, then ends the thread; past `graceMs` (default 5000) it is terminated
   * (an enqueue waiting for a Redis that is gone: its rollout stays `enqueued: false` for the reconciler). Idempotent.
   */
  stop(graceMs?: number): Promise<void>;
};

const THREAD_ENTRY = new URL('./thread-entry.js', import.meta.url);

export function startEnqueueThread(data: EnqueueThreadData, logger: Logger): EnqueueThread {
  let worker: Worker | null = null;
  let stopping: Promise<void> | null = null;
  let nextTaskId = 1;
  /** The thread has loaded and listens (its first message). */
  let ready = false;
  const pending = new Map<number, { resolve: (handed: number) => void; reject: (error: Error) => void }>();

  const failAll = (error: Error) => {
    for (const task of pending.values()) task.reject(error);
    pending.clear();
  };

  const spawn = (): Worker => {
    // No inherited execArgv: the API's own `--import`s (tsx, a profiler's or a bench probe's .ts) would load in the
    // thread before its entry has registered tsx, and fail; thread-entry.js registers it itself.
    ready = false;
    const thread = new Worker(THREAD_ENTRY, { workerData: data, execArgv: [] });
    thread.on('message', (answer: EnqueueAnswer | { ready: true }) => {
      if ('ready' in answer) {
        ready = true;
        return;
      }
      const task = pending.get(answer.taskId);
      if (!task) return;
      pending.delete(answer.taskId);
      if (answer.ok) task.resolve(answer.handed);
      else task.reject(new Error(answer.error));
    });
    thread.on('error', (error) => {
      logger.error('the enqueue thread failed', { error });
      failAll(error);
    });
    thread.on('exit', (code) => {
      if (worker === thread) worker = null;
      if (pending.size > 0) failAll(new Error(`the enqueue thread exited (code ${code})`));
    });
    return thread;
  };

  // Started now rather than at the first rollout: loading the thread's modules takes a second or so, which a first
  // POST would otherwise spend of its ENQUEUE_WAIT_MS.
  worker = spawn();

  return {
    enqueue(rolloutId, concurrency) {
      if (stopping) return Promise.reject(new Error('the API is stopping'));
      worker ??= spawn();
      const taskId = nextTaskId++;
      const done = new Promise<number>((resolve, reject) => pending.set(taskId, { resolve, reject }));
      const request: EnqueueRequest = { taskId, rolloutId, concurrency };
      worker.postMessage(request);
      return done;
    },
    stop(graceMs = 5000) {
      stopping ??= (async () => {
        const thread = worker;
        if (!thread) return;
        // Still loading its modules and asked for nothing: there is nothing to finish.
        if (!ready && pending.size === 0) {
          await thread.terminate();
          return;
        }
        const exited = new Promise<void>((resolve) => thread.once('exit', () => resolve()));
        thread.postMessage({ stop: true });
        let timer: NodeJS.Timeout | undefined;
        const late = await Promise.race([
          exited.then(() => false),
          new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), graceMs))),
        ]);
        clearTimeout(timer);
        if (late) {
          logger.warn('the enqueue thread did not finish in time; terminating it', { graceMs });
          await thread.terminate();
        }
      })();
      return stopping;
    },
  };
}
