/**
 * The send thread's entry (see send-thread.ts): the pools of the process's CMS clients, and nothing else on its
 * event loop, so that a request goes at its start however busy the process's own loop is.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { createPoolExchanger, monotonicMs } from '../exchange.ts';
import type { Exchanger } from '../exchange.ts';
import { setThreadNice } from '@fleet/thread-priority';
import type { FromSendThread, SendThreadData, ToSendThread } from './thread-messages.ts';

const port = parentPort!;
const { nice } = workerData as SendThreadData;
const pools = new Map<number, Exchanger>();
const answer = (message: FromSendThread) => port.postMessage(message);

port.on('message', (message: ToSendThread) => {
  switch (message.type) {
    case 'open':
      pools.set(message.poolId, createPoolExchanger(message.settings));
      return;
    case 'exchange': {
      const pool = pools.get(message.poolId);
      if (!pool) {
        const failed = { kind: 'failed', timedOut: false, code: 'SEND_POOL_CLOSED', durationMs: 0, lateMs: 0 } as const;
        const closed = { ...failed, sentAtMs: monotonicMs(), message: 'the pool was closed' };
        answer({ type: 'answer', id: message.id, answer: closed });
        return;
      }
      void pool.exchange(message.request).then((result) => answer({ type: 'answer', id: message.id, answer: result }));
      return;
    }
    case 'close': {
      const pool = pools.get(message.poolId);
      pools.delete(message.poolId);
      void (pool ? pool.close() : Promise.resolve()).finally(() => answer({ type: 'closed', id: message.id }));
      return;
    }
    case 'stop':
      void Promise.allSettled([...pools.values()].map((pool) => pool.close())).finally(() => port.close());
      return;
  }
});
// The nice value asked (SEND_THREAD_NICE), so that when this thread's timer fires it gets a core before the process's
// main loop and the host's other processes do: on Linux the thread's own, the main loop keeps its priority.
answer({ type: 'ready', priority: setThreadNice(nice) });
