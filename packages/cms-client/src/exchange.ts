import { Pool } from 'undici';
import { errorCodeOf, errorMessageOf, UNDICI_TIMEOUT_CODES } from './network-error.ts';

/**
 * One HTTP exchange with the API, already signed: what a CMS client hands to whoever holds its connections (a pool
 * on its own event loop, or one in its send thread: send-thread/). Carries no secret: the signature is in it.
 */
export type ExchangeRequest = {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: string | null;
  /** The whole exchange is aborted after this long, from the send (ms). */
  budgetMs: number;
  /** Sent at a start, not at once (SendAt). */
  at?: SendAt;
};

/**
 * A start to send at: never before `atMs` (monotonicMs), and not at all when the loop that sends comes to it more than
 * `lateToleranceMs` after (the exchange answers `late` and sends nothing: the caller takes a new start).
 */
export type SendAt = { atMs: number; lateToleranceMs: number };

/**
 * `lateMs`: how long after its start (0 without one) the request went; `sentAtMs`: when, on monotonicMs;
 * `durationMs`: from the send to the answer.
 */
export type ExchangeAnswer =
  | { kind: 'late'; lateMs: number }
  | {
      kind: 'response';
      status: number;
      contentType: string | null;
      /** Null when the body was longer than maxResponseBytes (the rest was discarded with the socket). */
      text: string | null;
      sentAtMs: number;
      durationMs: number;
      lateMs: number;
    }
  | {
      kind: 'failed';
      timedOut: boolean;
      code: string | null;
      message: string;
      sentAtMs: number;
      durationMs: number;
      lateMs: number;
    };

export type Exchanger = {
  exchange(request: ExchangeRequest): Promise<ExchangeAnswer>;
  /** Waits for the exchanges in flight, then closes the connections. */
  close(): Promise<void>;
};

/** How a client's connections are set up: one origin, so one pool. */
export type PoolSettings = { origin: string; connections: number; timeoutMs: number; maxResponseBytes: number };

/**
 * The process's monotonic clock in milliseconds, the same in every thread of it (CLOCK_MONOTONIC, which
 * `performance.now()` is not: each thread counts from its own start). A SendAt is read on it.
 */
export function monotonicMs(): number {
  const [seconds, nanoseconds] = process.hrtime();
  return seconds * 1000 + nanoseconds / 1e6;
}

/**
 * Waits for `atMs` and answers how late the loop came to it. Never early: a timer counts from the loop's cached time,
 * which may be older than the moment it was set, so one that fires before `atMs` by the monotonic clock is followed
 * by turns of the loop for the rest (rare: the wait is rounded up to the whole millisecond timers count in).
 */
async function reachStart(atMs: number): Promise<number> {
  const waitMs = atMs - monotonicMs();
  if (waitMs > 0) await new Promise<void>((resolve) => setTimeout(resolve, Math.ceil(waitMs)));
  for (;;) {
    const lateMs = monotonicMs() - atMs;
    if (lateMs >= 0) return lateMs;
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}

/** An exchanger on the calling thread's own event loop: an undici pool, keep-alive, at most `connections` sockets. */
export function createPoolExchanger(settings: PoolSettings): Exchanger {
  const { timeoutMs, maxResponseBytes } = settings;
  // Keep-alive reuse is what makes thousands of calls cheap; the headers/body/connect timeouts are backstops behind
  // the per-call AbortController, which also bounds the whole body read.
  const pool = new Pool(settings.origin, {
    connections: settings.connections,
    pipelining: 1,
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
    connect: { timeout: timeoutMs },
  });

  /** Reads at most maxResponseBytes; null when the body is longer (the rest is discarded with the socket). */
  async function readBody(body: AsyncIterable<Buffer | Uint8Array> & { destroy(): unknown }): Promise<string | null> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of body) {
      size += chunk.byteLength;
      if (size > maxResponseBytes) {
        body.destroy();
        return null;
      }
      chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
    }
    return Buffer.concat(chunks).toString('utf8');
  }

  return {
    async exchange(request) {
      let lateMs = 0;
      if (request.at) {
        lateMs = await reachStart(request.at.atMs);
        if (lateMs > request.at.lateToleranceMs) return { kind: 'late', lateMs };
      }
      const sent = monotonicMs();
      const controller = new AbortController();
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        controller.abort();
      }, request.budgetMs);
      try {
        const response = await pool.request({
          path: request.path,
          method: request.method as 'GET' | 'POST',
          headers: request.headers,
          body: request.body,
          signal: controller.signal,
        });
        const header = response.headers['content-type'];
        const contentType = Array.isArray(header) ? (header[0] ?? null) : (header ?? null);
        const text = await readBody(response.body);
        // undici ends the body stream before the pool learns (via a deferred 'drain' event) that the connection is
        // free again; a caller that issues its next call straight away would otherwise open a second socket, and
        // sequential callers end up alternating between two. One macrotask lets the pool catch up.
        await new Promise<void>((resolve) => setImmediate(resolve));
        const durationMs = monotonicMs() - sent;
        return { kind: 'response', status: response.statusCode, contentType, text, sentAtMs: sent, durationMs, lateMs };
      } catch (error) {
        const code = errorCodeOf(error);
        return {
          kind: 'failed',
          timedOut: timedOut || (code !== null && UNDICI_TIMEOUT_CODES.has(code)),
          code,
          message: errorMessageOf(error),
          sentAtMs: sent,
          durationMs: monotonicMs() - sent,
          lateMs,
        };
      } finally {
        clearTimeout(timer);
      }
    },
    close: () => pool.close(),
  };
}
