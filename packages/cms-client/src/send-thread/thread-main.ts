/**
 * The send thread's entry (see send-thread.ts): the pools of the process's CMS clients, and nothing else on its
 * event loop, so that a request goes at its start however busy the process's own loop is.
 */
import { getPriority, setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import { createPoolExchanger, monotonicMs } from '../exchange.ts';
import type { Exchanger } from '../exchange.ts';
import type { FromSendThread, SendThreadData, SendThreadPriority, ToSendThread } from './thread-messages.ts';

/**
 * Gives this thread the nice value asked, so that when its timer fires it gets a core before the process's main loop
 * and the other processes of the host do. On Linux a nice value is a thread's own (setpriority of pid 0 is the
 * calling thread's), so the main loop keeps its own; elsewhere it would be the whole process's, so it is left.
 * Raising a priority (a nice value below the current) takes CAP_SYS_NICE or a matching RLIMIT_NICE; without, the
 * thread keeps the process's and says why.
 */
function takePriority(asked: number | null): SendThreadPriority {
  const now = (refusal: string | null): SendThreadPriority => ({ nice: getPriority(0), asked, refusal });
  if (asked === null) return now(null);
  if (process.platform !== 'linux')
    return now(`a thread's own priority is set on Linux only (this is ${process.platform})`);
  try {
    setPriority(0, asked);
    return now(null);
  } catch (error) {
    return now(error instanceof Error ? error.message : String(error));
  }
}

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
answer({ type: 'ready', priority: takePriority(nice) });
