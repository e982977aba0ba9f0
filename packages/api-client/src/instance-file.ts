/**
 * Reads the instance ids of a file of hosts (`fleet rollout create --file`, the console's upload): plain text (one id a line, `#` comments and blank lines
 * ignored), CSV with an `instance_id` or `InstanceId` column (the ECS console's export), or JSON (an array of ids or
 * `{ "instanceIds": [...] }`). Every id is checked as the API checks it; the bad ones come back with their line
 * numbers so that nothing is sent until the file is right.
 */

/** The API's rule for an ECS instance id (apps/api rollout-schemas.ts). */
const INSTANCE_ID = /^i-[a-z0-9]{1,62}$/;
const CSV_COLUMNS = ['instance_id', 'instanceid'];

/** A file that cannot be read as a list of instance ids at all (not one id in it, a CSV without the column, bad JSON). */
export class InstanceFileError extends Error {
  override name = 'InstanceFileError';
  readonly code = 'instance_file_unreadable';
}

export type InstanceFileFormat = 'text' | 'csv' | 'json';
export type BadInstanceId = { line: number; value: string };
export type InstanceFile = { format: InstanceFileFormat; instanceIds: string[]; bad: BadInstanceId[] };

/** The format from the file name's extension, else from its first non-blank character or its header line. */
export function detectFormat(name: string, text: string): InstanceFileFormat {
  const ext = /\.([a-z]+)$/i.exec(name)?.[1]?.toLowerCase();
  if (ext === 'json') return 'json';
  if (ext === 'csv') return 'csv';
  if (ext === 'txt') return 'text';
  const first = text.trimStart()[0];
  if (first === '[' || first === '{') return 'json';
  const header = text.split('\n', 1)[0]!.toLowerCase();
  return header.includes(',') || CSV_COLUMNS.includes(header.trim().replace(/"/g, '')) ? 'csv' : 'text';
}

export function parseInstanceFile(name: string, text: string): InstanceFile {
  const format = detectFormat(name, text.replace(/^\uFEFF/, ''));
  const body = text.replace(/^\uFEFF/, '');
  const entries =
    format === 'json' ? jsonEntries(name, body) : format === 'csv' ? csvEntries(name, body) : textEntries(body);
  const instanceIds: string[] = [];
  const bad: BadInstanceId[] = [];
  for (const entry of entries) {
    if (INSTANCE_ID.test(entry.value)) instanceIds.push(entry.value);
    else bad.push(entry);
  }
  if (bad.length === 0 && instanceIds.length === 0) throw new InstanceFileError(`${name}: no instance ids in the file`);
  return { format, instanceIds, bad };
}

function textEntries(text: string): BadInstanceId[] {
  const entries: BadInstanceId[] = [];
  text.split('\n').forEach((raw, index) => {
    const value = raw.replace(/#.*$/, '').trim();
    if (value !== '') entries.push({ line: index + 1, value });
  });
  return entries;
}

/** One CSV record's cells (RFC 4180 quotes; a record within one line, as the ECS export writes them). */
function csvCells(line: string): string[] {
  const cells: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < line.length; i += 1) {
    const c = line[i]!;
    if (quoted && c === '"' && line[i + 1] === '"') {
      cell += '"';
      i += 1;
    } else if (c === '"') quoted = !quoted;
    else if (c === ',' && !quoted) {
      cells.push(cell);
      cell = '';
    } else cell += c;
  }
  cells.push(cell);
  return cells.map((s) => s.trim());
}

function csvEntries(name: string, text: string): BadInstanceId[] {
  const lines = text.split('\n').map((l) => l.replace(/\r$/, ''));
  const headerIndex = lines.findIndex((l) => l.trim() !== '');
  const header = csvCells(lines[headerIndex] ?? '').map((h) => h.toLowerCase());
  const column = header.findIndex((h) => CSV_COLUMNS.includes(h));
  if (column < 0)
    throw new InstanceFileError(
      `${name}: a CSV file needs an instance_id or InstanceId column; its header is: ${lines[headerIndex]}`,
    );
  const entries: BadInstanceId[] = [];
  for (let i = headerIndex + 1; i < lines.length; i += 1) {
    if (lines[i]!.trim() === '') continue;
    entries.push({ line: i + 1, value: csvCells(lines[i]!)[column] ?? '' });
  }
  return entries;
}

function jsonEntries(name: string, text: string): BadInstanceId[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new InstanceFileError(`${name}: not valid JSON (${error instanceof Error ? error.message : String(error)})`);
  }
  const list = Array.isArray(parsed) ? parsed : (parsed as { instanceIds?: unknown } | null)?.instanceIds;
  if (!Array.isArray(list))
    throw new InstanceFileError(`${name}: JSON must be an array of instance ids or { "instanceIds": [...] }`);
  const lines = stringLiteralLines(
    text,
    Array.isArray(parsed) ? 0 : text.indexOf('"instanceIds"') + '"instanceIds"'.length,
  );
  let strings = 0;
  return list.map((value: unknown) => ({
    line: typeof value === 'string' ? (lines[strings++] ?? 0) : 0,
    value: typeof value === 'string' ? value : JSON.stringify(value),
  }));
}

/**
 * The line of each string literal of the JSON text from offset `from` on (past the "instanceIds" key), in order:
 * the n-th string element of the array is the n-th literal (a non-string element is reported at line 0).
 */
function stringLiteralLines(text: string, from: number): number[] {
  const lines: number[] = [];
  let line = 1;
  for (let i = 0; i < from; i += 1) if (text[i] === '\n') line += 1;
  for (let i = from; i < text.length; i += 1) {
    const c = text[i];
    if (c === '\n') line += 1;
    else if (c === '"') {
      const start = line;
      for (i += 1; i < text.length && text[i] !== '"'; i += 1) if (text[i] === '\\') i += 1;
      lines.push(start);
    }
  }
  return lines;
}
