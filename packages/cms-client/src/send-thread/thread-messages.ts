import type { ExchangeAnswer, ExchangeRequest, PoolSettings } from '../exchange.ts';

/** What the process asks its send thread (send-thread.ts). No secret crosses: requests arrive signed. */
export type ToSendThread =
  | { type: 'open'; poolId: number; settings: PoolSettings }
  | { type: 'exchange'; id: number; poolId: number; request: ExchangeRequest }
  | { type: 'close'; id: number; poolId: number }
  | { type: 'stop' };

/** What the send thread answers: it listens; an exchange's answer; a pool closed (its exchanges over). */
export type FromSendThread =
  { type: 'ready' } | { type: 'answer'; id: number; answer: ExchangeAnswer } | { type: 'closed'; id: number };
