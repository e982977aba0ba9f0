import { Worker } from 'node:worker_threads';
import { monotonicMs } from '../exchange.ts';
import type { ExchangeAnswer, Exchanger, PoolSettings } from '../exchange.ts';
import type { FromSendThread, SendThreadData, SendThreadPriority, ToSendThread } from './thread-messages.ts';

export type { SendThreadPriority } from './thread-messages.ts';

/**
 * A worker thread that holds the connections of the process's CMS clients and sends their requests. A request sent
 * at a start (SendAt) is waited for there: in a worker process running hundreds of jobs, the main event loop is late
 * for a timer by 10 ms or more for a third to a half of them (measured: docs/performance.md, "Where the 20
 * accounts' quota goes"), and a call that late for its start cannot be sent (the account's schedule would see more
 * than its rate); the thread, whose loop runs nothing else, was late by more than 10 ms for about 1%.
 *
 * Signing stays on the caller's thread (the secret never crosses); the thread gets the signed request and answers
 * the status, content type and body text, which the client parses and redacts as before. A thread that dies fails
 * the exchanges it held as network failures (`SEND_THREAD_EXITED`: sent or not, unknown, as for a reset socket) and
 * is started again, with its clients' pools, by the next exchange.
 */
export type CmsSendThread = {
  /** The connections of one client (createCmsClient's `sendThread` option): one pool, in the thread. */
  exchanger(settings: PoolSettings): Exchanger;
  /**
   * Resolves once the thread has loaded and listens (a second or so after the start), with the priority it runs at: a
   * request handed over before waits for it, so a process starts taking work after this.
   */
  ready(): Promise<SendThreadPriority>;
  /** Closes every pool (each waits for its exchanges in flight) and ends the thread. Idempotent. */
  stop(): Promise<void>;
};

const THREAD_ENTRY = new URL('./thread-entry.js', import.meta.url);

export type SendThreadOptions = {
  /**
   * The thread's nice value (-20 to 19; Linux, where a thread has its own): below the process's, its timers are
   * served before the main loop's work and the host's other processes when cores are short. Omitted: the process's.
   */
  nice?: number;
};

export function startCmsSendThread(options: SendThreadOptions = {}): CmsSendThread {
  let worker: Worker | null = null;
  let stopping: Promise<void> | null = null;
  let nextId = 1;
  let nextPoolId = 1;
  const pools = new Map<number, PoolSettings>();
  const pending = new Map<number, (answer: ExchangeAnswer | 'closed') => void>();
  let markReady: (priority: SendThreadPriority) => void = () => undefined;
  const waitForReady = () => new Promise<SendThreadPriority>((resolve) => (markReady = resolve));
  let readiness = waitForReady();
  const data: SendThreadData = { nice: options.nice ?? null };

  const post = (message: ToSendThread) => thread().postMessage(message);

  /** Referenced while it has work, so that a process waiting only for an answer does not exit; not when idle. */
  const track = () => {
    if (!worker) return;
    if (pending.size > 0) worker.ref();
    else worker.unref();
  };

  const failAll = (why: string) => {
    const failed: ExchangeAnswer = {
      kind: 'failed',
      timedOut: false,
      code: 'SEND_THREAD_EXITED',
      message: why,
      sentAtMs: monotonicMs(),
      durationMs: 0,
      lateMs: 0,
    };
    for (const settle of pending.values()) settle(failed);
    pending.clear();
  };

  const thread = (): Worker => {
    if (worker) return worker;
    // No inherited execArgv: the process's own `--import`s (tsx, a profiler's or a bench probe's .ts) would load in
    // the thread before its entry has registered tsx, and fail; thread-entry.js registers it itself.
    const started = new Worker(THREAD_ENTRY, { execArgv: [], workerData: data });
    started.on('message', (message: FromSendThread) => {
      if (message.type === 'ready') {
        markReady(message.priority);
        return;
      }
      const settle = pending.get(message.id);
      if (!settle) return;
      pending.delete(message.id);
      settle(message.type === 'closed' ? 'closed' : message.answer);
      track();
    });
    started.on('error', (error) => failAll(`the send thread failed: ${error.message}`));
    started.on('exit', (code) => {
      if (worker === started) worker = null;
      failAll(`the send thread exited (code ${code})`);
      // Whoever waits for this one is told at once (it never ran: no priority of its own); one started again is
      // waited for anew.
      markReady({ nice: null, asked: data.nice, refusal: `the send thread exited (code ${code})` });
      readiness = waitForReady();
    });
    worker = started;
    for (const [poolId, settings] of pools) started.postMessage({ type: 'open', poolId, settings } as ToSendThread);
    track();
    return started;
  };

  const ask = <T extends ExchangeAnswer | 'closed'>(message: (id: number) => ToSendThread): Promise<T> => {
    if (stopping) {
      // Typed as an answer (not cast), so that it carries every field an answer must.
      const refused: ExchangeAnswer = {
        kind: 'failed',
        timedOut: false,
        code: 'SEND_THREAD_STOPPED',
        message: 'the send thread was stopped',
        sentAtMs: monotonicMs(),
        durationMs: 0,
        lateMs: 0,
      };
      return Promise.resolve(refused as T);
    }
    const id = nextId++;
    const answered = new Promise<T>((resolve) =>
      pending.set(id, resolve as (answer: ExchangeAnswer | 'closed') => void),
    );
    post(message(id));
    track();
    return answered;
  };

  // Started now rather than at the first call: loading the thread's modules takes a second or so.
  thread();

  return {
    exchanger(settings) {
      const poolId = nextPoolId++;
      pools.set(poolId, settings);
      if (!stopping) post({ type: 'open', poolId, settings });
      let closing: Promise<void> | null = null;
      return {
        exchange: (request) => ask<ExchangeAnswer>((id) => ({ type: 'exchange', id, poolId, request })),
        close() {
          closing ??= (async () => {
            pools.delete(poolId);
            if (worker) await ask<'closed'>((id) => ({ type: 'close', id, poolId }));
          })();
          return closing;
        },
      };
    },
    ready: () => readiness,
    stop() {
      stopping ??= (async () => {
        const running = worker;
        if (!running) return;
        const exited = new Promise<void>((resolve) => running.once('exit', () => resolve()));
        running.ref();
        running.postMessage({ type: 'stop' } as ToSendThread);
        await exited;
      })();
      return stopping;
    },
  };
}
