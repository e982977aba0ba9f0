import { styleText } from 'node:util';
import { UsageError } from './exit-codes.ts';

/**
 * How read commands print: a table that fits the terminal, JSON (the API's objects as they are) or YAML. Colours
 * only when the stream is a terminal and NO_COLOR is not set.
 */
const OUTPUT_FORMATS = ['table', 'json', 'yaml'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

export function parseOutputFormat(value: string): OutputFormat {
  if ((OUTPUT_FORMATS as readonly string[]).includes(value)) return value as OutputFormat;
  throw new UsageError(`--output must be one of ${OUTPUT_FORMATS.join(', ')}; got ${JSON.stringify(value)}`);
}

/** Where a command writes, and how: what `main.ts` decides from the process once. */
export type Terminal = {
  out: (text: string) => void;
  err: (text: string) => void;
  /** Columns of stdout when it is a terminal, else undefined (no width limit). */
  columns: number | undefined;
  stdoutIsTTY: boolean;
  stderrIsTTY: boolean;
  color: boolean;
};

type Style = 'bold' | 'dim' | 'red' | 'green' | 'yellow' | 'cyan';
export function paint(term: Terminal, style: Style, text: string): string {
  return term.color ? styleText(style, text) : text;
}

export type Column<T> = { header: string; value: (row: T) => string | number | boolean | null | undefined };

const ELLIPSIS = '…';

/**
 * Rows as an aligned table no wider than `columns`: the widest columns are cut (with an ellipsis) until it fits,
 * none below 8 characters.
 */
export function renderTable<T>(rows: readonly T[], columns: readonly Column<T>[], width: number | undefined): string {
  const cells = rows.map((row) => columns.map((c) => cellText(c.value(row))));
  const widths = columns.map((c, i) => Math.max(c.header.length, ...cells.map((r) => r[i]!.length)));
  const gap = 2;
  if (width !== undefined) {
    let total = widths.reduce((a, b) => a + b, 0) + gap * (widths.length - 1);
    while (total > width) {
      const widest = widths.indexOf(Math.max(...widths));
      if (widths[widest]! <= 8) break;
      widths[widest]! -= 1;
      total -= 1;
    }
  }
  const line = (values: string[]) =>
    values
      .map((v, i) => fit(v, widths[i]!))
      .join(' '.repeat(gap))
      .trimEnd();
  return [line(columns.map((c) => c.header.toUpperCase())), ...cells.map(line)].join('\n') + '\n';
}

function cellText(value: string | number | boolean | null | undefined): string {
  if (value === null || value === undefined || value === '') return '-';
  return String(value).replace(/\s+/g, ' ');
}

function fit(text: string, width: number): string {
  if (text.length <= width) return text.padEnd(width);
  return text.slice(0, Math.max(width - 1, 0)) + ELLIPSIS;
}

/** `label  value` lines for one object, labels aligned. */
export function renderFields(fields: readonly [string, unknown][]): string {
  const pad = Math.max(...fields.map(([label]) => label.length));
  return fields.map(([label, value]) => `${label.padEnd(pad)}  ${cellText(value as string)}`).join('\n') + '\n';
}

/** Prints `data` as JSON or YAML, or as the table/fields `table()` renders. */
export async function printData(
  term: Terminal,
  format: OutputFormat,
  data: unknown,
  table: () => string,
): Promise<void> {
  if (format === 'json') term.out(`${JSON.stringify(data, null, 2)}\n`);
  // Loaded when asked for: each command is a process of its own, and most never print YAML.
  else if (format === 'yaml') term.out((await import('yaml')).stringify(data));
  else term.out(table());
}
