import { EventSourceParserStream } from 'eventsource-parser/stream';

/**
 * One dispatched frame of a text/event-stream body: `id`, `event` (`message` when the frame names none) and `data`
 * (several data lines joined by newlines). Comments (`: heartbeat`) and `retry:` never reach the caller. The parsing,
 * by the WHATWG rules, is eventsource-parser's.
 */
export type SseFrame = { id: string | undefined; event: string; data: string };

export async function* readSseFrames(body: ReadableStream<Uint8Array>): AsyncGenerator<SseFrame> {
  const reader = body.pipeThrough(new TextDecoderStream()).pipeThrough(new EventSourceParserStream()).getReader();
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      yield { id: value.id, event: value.event ?? 'message', data: value.data };
    }
  } finally {
    await reader.cancel().catch(() => {});
    reader.releaseLock();
  }
}
