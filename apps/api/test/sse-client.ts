/**
 * A Server-Sent Events client for tests, over real HTTP (fetch): it parses frames as the EventSource algorithm does
 * (fields id / event / data / retry, comment lines, a blank line ends a frame) and keeps every frame it saw.
 */
type SseFrame = { id?: string; event: string; data: string; comment?: string; retry?: number };

export type SseStream = {
  status: number;
  headers: Headers;
  /** The parsed JSON body of an answer that is not a stream (an error, a 204). */
  body: unknown;
  /** Every frame so far, comments included (as `{ event: '', comment }`). */
  frames: SseFrame[];
  /** Frames that are events (not comments or `retry:`). */
  events(): SseFrame[];
  /** Resolves with the first frame (from the start) matching `predicate`; rejects after `timeoutMs` or at the end. */
  next(predicate: (frame: SseFrame) => boolean, timeoutMs?: number): Promise<SseFrame>;
  /** Resolves when the server ends the stream. */
  ended: Promise<void>;
  isEnded(): boolean;
  /** Closes the connection from the client's side. */
  close(): void;
};

function parseFrame(block: string): SseFrame | null {
  const frame: SseFrame = { event: 'message', data: '' };
  const data: string[] = [];
  let any = false;
  for (const line of block.split('\n')) {
    if (line.startsWith(':')) {
      frame.comment = line.slice(1).trim();
      frame.event = '';
      any = true;
      continue;
    }
    const colon = line.indexOf(':');
    const name = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
    any = true;
    if (name === 'id') frame.id = value;
    else if (name === 'event') frame.event = value;
    else if (name === 'data') data.push(value);
    else if (name === 'retry') {
      frame.retry = Number(value);
      frame.event = '';
    }
  }
  frame.data = data.join('\n');
  return any ? frame : null;
}

export async function openSse(url: string, headers: Record<string, string> = {}): Promise<SseStream> {
  const abort = new AbortController();
  const res = await fetch(url, { headers: { accept: 'text/event-stream', ...headers }, signal: abort.signal });
  const frames: SseFrame[] = [];
  const waiters = new Set<() => void>();
  let ended = false;
  const wake = () => {
    for (const w of [...waiters]) w();
  };
  const isStream = res.status === 200 && (res.headers.get('content-type') ?? '').startsWith('text/event-stream');
  let body: unknown = null;
  let endedPromise: Promise<void>;
  if (!isStream) {
    const text = await res.text();
    body = text ? JSON.parse(text) : null;
    ended = true;
    endedPromise = Promise.resolve();
  } else {
    endedPromise = (async () => {
      const decoder = new TextDecoder();
      let pending = '';
      try {
        for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
          pending += decoder.decode(chunk, { stream: true });
          let end: number;
          while ((end = pending.indexOf('\n\n')) >= 0) {
            const frame = parseFrame(pending.slice(0, end));
            pending = pending.slice(end + 2);
            if (frame) frames.push(frame);
          }
          wake();
        }
      } catch {
        // Closed by the client (abort) or the connection dropped.
      } finally {
        ended = true;
        wake();
      }
    })();
  }
  return {
    status: res.status,
    headers: res.headers,
    body,
    frames,
    events: () => frames.filter((f) => f.event !== ''),
    next(predicate, timeoutMs = 10_000) {
      return new Promise<SseFrame>((resolve, reject) => {
        const check = () => {
          const found = frames.find(predicate);
          if (found) done(() => resolve(found));
          else if (ended)
            done(() => reject(new Error(`stream ended without the frame; saw ${JSON.stringify(frames)}`)));
        };
        const timer = setTimeout(
          () => done(() => reject(new Error(`no such frame in ${timeoutMs} ms; saw ${JSON.stringify(frames)}`))),
          timeoutMs,
        );
        const done = (settle: () => void) => {
          clearTimeout(timer);
          waiters.delete(check);
          settle();
        };
        waiters.add(check);
        check();
      });
    },
    ended: endedPromise,
    isEnded: () => ended,
    close: () => abort.abort(),
  };
}
