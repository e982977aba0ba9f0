import type { LogFormat } from './pretty-line.ts';

/**
 * The format and colouring of a process's log lines. `format` (LOG_FORMAT) when set; else pretty when stdout is a
 * terminal and JSON otherwise (a file, a pipe, a log collector). Colours only in pretty lines on a terminal and never
 * with NO_COLOR set.
 */
export function chooseLogOutput(input: { format: LogFormat | undefined; stdoutIsTTY: boolean; noColor: boolean }): {
  format: LogFormat;
  color: boolean;
} {
  const format = input.format ?? (input.stdoutIsTTY ? 'pretty' : 'json');
  return { format, color: format === 'pretty' && input.stdoutIsTTY && !input.noColor };
}
