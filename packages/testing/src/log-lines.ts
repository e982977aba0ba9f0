import { Writable } from 'node:stream';

/** A stream for a test's logger (`createLogger({ stream })`) that keeps every line written, for assertions. */
export function collectLines(): { stream: Writable; lines: string[] } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _encoding, callback) {
      lines.push(String(chunk));
      callback();
    },
  });
  return { stream, lines };
}
