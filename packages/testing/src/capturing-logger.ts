import { Writable } from 'node:stream';
import { createLogger } from '@fleet/logger';
import type { Logger } from '@fleet/logger';

/** One JSON log line, parsed. */
export type LogEntry = { level: string; message: string; service: string; [field: string]: unknown };

export type CapturedLogger = {
  logger: Logger;
  /** Every line written so far, exactly as written (a check that a secret never appears reads these). */
  lines: string[];
  /** The lines so far, parsed, for assertions on fields. */
  entries(): LogEntry[];
};

/**
 * The product's own logger (createLogger: JSON lines, redaction of `secrets`), writing into memory so a test can
 * read what was logged. Level debug unless told: a test wants every line that could leak.
 */
export function capturingLogger(options: {
  service: string;
  secrets?: readonly string[];
  /** Default debug. */
  level?: string;
}): CapturedLogger {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _encoding, callback) {
      lines.push(String(chunk));
      callback();
    },
  });
  const logger = createLogger({
    service: options.service,
    level: options.level ?? 'debug',
    secrets: options.secrets ?? [],
    stream,
  });
  return { logger, lines, entries: () => lines.map((line) => JSON.parse(line) as LogEntry) };
}
