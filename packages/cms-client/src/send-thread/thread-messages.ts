import type { ExchangeAnswer, ExchangeRequest, PoolSettings } from '../exchange.ts';

/** What the process asks its send thread (send-thread.ts). No secret crosses: requests arrive signed. */
export type ToSendThread =
  | { type: 'open'; poolId: number; settings: PoolSettings }
  | { type: 'exchange'; id: number; poolId: number; request: ExchangeRequest }
  | { type: 'close'; id: number; poolId: number }
  | { type: 'stop' };

/** What the thread's start is given (workerData). */
export type SendThreadData = { nice: number | null };

/**
 * The thread's scheduling priority as it runs: `nice` its nice value (null: unknown, the thread exited before it
 * listened); `asked` what it was to be (null: left as the process's); `refusal` why it is not what was asked (the
 * system's error, e.g. EACCES without CAP_SYS_NICE).
 */
export type SendThreadPriority = { nice: number | null; asked: number | null; refusal: string | null };

/** What the send thread answers: it listens (at this priority); an exchange's answer; a pool closed. */
export type FromSendThread =
  | { type: 'ready'; priority: SendThreadPriority }
  | { type: 'answer'; id: number; answer: ExchangeAnswer }
  | { type: 'closed'; id: number };
