import { EventSourceParserStream } from 'eventsource-parser/stream';

/**
 * One dispatched frame of a text/event-stream body: `id`, `event` (`message` when the frame names none) and `data`
 * (several data lines joined by newlines). Comments (`: heartbeat`) and `retry:` never reach the caller. The parsing,
 * by the WHATWG rules, is eventsource-parser's.
 */
export type SseFrame = { id: string | undefined; event: string; data: string };

export async function* readSseFrames(body: ReadableStream<Uint8Array>): AsyncGenerator<SseFrame> {
  // TypeScript's DOM lib types a TextDecoderStream's writable side as BufferSource, which a ReadableStream<Uint8Array>
  // does not pipe into by its types (Node's lib takes Uint8Array): the same object either way, as the console compiles
  // this file with the DOM lib and the CLI with Node's.
  const decoder = new TextDecoderStream() as unknown as TransformStream<Uint8Array, string>;
  const reader = body.pipeThrough(decoder).pipeThrough(new EventSourceParserStream()).getReader();
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
