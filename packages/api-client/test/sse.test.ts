import { describe, expect, it } from 'vitest';
import { readSseFrames } from '../src/sse.ts';

/** A body that arrives in the given chunks, as a network would cut it. */
function body(chunks: string[]): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  return new ReadableStream({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(encoder.encode(chunk));
      controller.close();
    },
  });
}

async function frames(chunks: string[]) {
  const out = [];
  for await (const frame of readSseFrames(body(chunks))) out.push(frame);
  return out;
}

describe('readSseFrames', () => {
  it('dispatches a frame at each blank line, whatever the chunks, with its id, event and data', async () => {
    const text =
      'retry: 2000\n\nid: 7\nevent: rollout.paused\ndata: {"a":1}\n\n: heartbeat\n\nevent: progress\ndata: {"b":2}\n\n';
    const whole = await frames([text]);
    expect(whole).toEqual([
      { id: '7', event: 'rollout.paused', data: '{"a":1}' },
      { id: undefined, event: 'progress', data: '{"b":2}' },
    ]);
    // Cut at every character: the same frames.
    expect(await frames([...text])).toEqual(whole);
  });

  it('joins data lines, reads CRLF line ends, calls an unnamed frame "message" and drops an unfinished one', async () => {
    expect(await frames(['data: one\r\ndata: two\r\n\r\ndata: cut off'])).toEqual([
      { id: undefined, event: 'message', data: 'one\ntwo' },
    ]);
  });
});
