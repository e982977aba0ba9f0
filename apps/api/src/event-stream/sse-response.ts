import type { Response } from 'express';

/**
 * One Server-Sent Events response (https://html.spec.whatwg.org/multipage/server-sent-events.html): the headers, the
 * `id:`/`event:`/`data:` frames, comment heartbeats, and its end. Nothing here knows about rollouts.
 */
export type SseResponse = {
  /** An event: with an id (a stored event) it becomes the client's Last-Event-ID. */
  event(frame: SseEvent): void;
  /** An event rendered by renderSseEvent (once for many streams). */
  send(rendered: string | Buffer): void;
  /** A comment line (`: text`), ignored by EventSource; keeps proxies and idle timeouts from cutting the stream. */
  comment(text: string): void;
  /** True once the stream was ended (by us or by the client going away). */
  isClosed(): boolean;
  /** Calls `listener` once when the stream ends, whoever ends it (at once if it has already ended). */
  onClose(listener: () => void): void;
  /** Ends the response. Idempotent. */
  close(): void;
};

export type SseOptions = {
  /** Comment heartbeat interval, in ms. Default 15,000. */
  heartbeatMs?: number;
  /** Reconnect delay the client is told to use (`retry:`), in ms. Default 2000. */
  retryMs?: number;
  /**
   * Most bytes waiting for a slow client before it is cut off (it reconnects with Last-Event-ID and misses nothing).
   * Default 1 MiB.
   */
  maxBufferedBytes?: number;
};

type SseEvent = { id?: string; event: string; data: unknown };

/** Multi-line data is sent as one `data:` line per line, as the format requires; JSON has no raw newlines anyway. */
function dataLines(data: unknown): string {
  const text = typeof data === 'string' ? data : JSON.stringify(data);
  return text
    .split(/\r\n|\r|\n/)
    .map((line) => `data: ${line}\n`)
    .join('');
}

/** A field value may not hold a line break; event names and ids are ours, this only guards against mistakes. */
function field(value: string): string {
  return value.replace(/[\r\n]/g, '');
}

/** The `id:` / `event:` / `data:` lines of one event and the blank line that ends it. */
export function renderSseEvent(frame: SseEvent): string {
  return `${frame.id === undefined ? '' : `id: ${field(frame.id)}\n`}event: ${field(frame.event)}\n${dataLines(frame.data)}\n`;
}

/**
 * Starts the stream on `res`: status 200 and the headers at once (so the client's EventSource opens before any event),
 * no caching, no transformation by proxies, nginx told not to buffer (`X-Accel-Buffering: no`), no compression (the
 * API has none, and `no-transform` keeps intermediaries from adding it), the socket without Nagle's delay and without
 * an idle timeout.
 */
export function startSse(res: Response, options: SseOptions = {}): SseResponse {
  const heartbeatMs = options.heartbeatMs ?? 15_000;
  const maxBufferedBytes = options.maxBufferedBytes ?? 1024 * 1024;
  let closed = false;
  const closeListeners: (() => void)[] = [];
  res.status(200);
  res.setHeader('Content-Type', 'text/event-stream; charset=utf-8');
  res.setHeader('Cache-Control', 'no-cache, no-transform');
  res.setHeader('X-Accel-Buffering', 'no');
  // The connection ends with the stream: nothing is left idle to hold up a shutdown, and a client reconnects anyway.
  res.setHeader('Connection', 'close');
  res.flushHeaders();
  res.socket?.setNoDelay(true);
  res.socket?.setTimeout(0);

  const heartbeat = setInterval(() => write(': heartbeat\n\n'), heartbeatMs);
  heartbeat.unref();

  const finish = () => {
    if (closed) return;
    closed = true;
    clearInterval(heartbeat);
    for (const listener of closeListeners.splice(0)) listener();
  };
  // 'close' fires when the client goes away as well as after our own end().
  res.on('close', finish);

  function write(chunk: string | Buffer): void {
    if (closed) return;
    res.write(chunk);
    if (res.writableLength > maxBufferedBytes) close();
  }

  function close(): void {
    if (closed) return;
    if (!res.writableEnded) res.end();
    finish();
  }

  write(`retry: ${options.retryMs ?? 2000}\n\n`);
  return {
    event: (frame) => write(renderSseEvent(frame)),
    send: write,
    comment(text) {
      write(`: ${field(text)}\n\n`);
    },
    isClosed: () => closed,
    onClose(listener) {
      if (closed) listener();
      else closeListeners.push(listener);
    },
    close,
  };
}
