/** The formats a logger writes: `json` (one JSON object a line, for machines) or `pretty` (one readable line). */
export type LogFormat = 'json' | 'pretty';

/** Context fields first, in this order, for they say what an entry is about; every other field follows as logged. */
const LEADING_FIELDS = ['rolloutId', 'instanceId', 'requestId', 'jobId'];
/** Fields a pretty line shows in its fixed columns, or not at all. */
const COLUMN_FIELDS = new Set(['timestamp', 'level', 'message', 'service']);

/** ANSI colour of each winston level's name; only a pretty line on a terminal uses them. */
const LEVEL_COLOUR: Record<string, number> = {
  error: 31,
  warn: 33,
  info: 32,
  http: 36,
  verbose: 36,
  debug: 34,
  silly: 35,
};

/** HH:MM:SS.mmm of `timestamp` (ISO 8601) in local time; the text itself when it is not a date. */
function clockTime(timestamp: unknown): string {
  const date = new Date(String(timestamp));
  if (Number.isNaN(date.getTime())) return String(timestamp);
  const two = (n: number) => String(n).padStart(2, '0');
  return `${two(date.getHours())}:${two(date.getMinutes())}:${two(date.getSeconds())}.${String(date.getMilliseconds()).padStart(3, '0')}`;
}

/** A value as `k=v` shows it: plain when it holds no space, quote or `=`, else JSON (quoted, escaped). */
function fieldValue(value: unknown): string {
  if (typeof value === 'string') return /^[^\s"=]+$/.test(value) ? value : JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean' || value === null) return String(value);
  if (isLoggedError(value)) return fieldValue(value.message);
  return JSON.stringify(value) ?? String(value);
}

/** An Error as the logger's redaction leaves it: a plain object with its name, message, code, stack and cause. */
function isLoggedError(value: unknown): value is { name?: unknown; message: string; code?: unknown } {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { message?: unknown }).message === 'string' &&
    'stack' in value
  );
}

/** The `k=v` pairs of an entry; an error's code follows it as `<key>Code`. */
function fields(entry: Record<string, unknown>): string[] {
  const keys = Object.keys(entry).filter((k) => !COLUMN_FIELDS.has(k) && entry[k] !== undefined);
  const ordered = [
    ...LEADING_FIELDS.filter((k) => keys.includes(k)),
    ...keys.filter((k) => !LEADING_FIELDS.includes(k)),
  ];
  const pairs: string[] = [];
  for (const key of ordered) {
    const value = entry[key];
    pairs.push(`${key}=${fieldValue(value)}`);
    if (isLoggedError(value) && value.code !== undefined && value.code !== null)
      pairs.push(`${key}Code=${fieldValue(value.code)}`);
  }
  return pairs;
}

/**
 * One entry as one readable line: `12:04:05.123 worker     info  worker started workerId=h-1`, time in local time,
 * the app, the level (coloured when `color`), the message, then its fields as k=v. A newline inside the message or a
 * value is written as `\n`, so that an entry stays one line. The entry is already redacted.
 */
export function prettyLine(entry: Record<string, unknown>, options: { color: boolean }): string {
  const level = String(entry.level ?? '');
  const levelColumn = level.padEnd(5);
  const colour = LEVEL_COLOUR[level];
  const shownLevel = options.color && colour ? `\u001b[${colour}m${levelColumn}\u001b[39m` : levelColumn;
  const message = typeof entry.message === 'string' ? entry.message : fieldValue(entry.message);
  const parts = [
    clockTime(entry.timestamp),
    String(entry.service ?? '').padEnd(10),
    shownLevel,
    message,
    ...fields(entry),
  ];
  return parts.join(' ').replace(/\r?\n/g, '\\n');
}
