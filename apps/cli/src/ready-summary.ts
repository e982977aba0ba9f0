import path from 'node:path';

/** Where things are once `fleet up` is ready; a field is absent when its app was not started. */
export type ReadySummary = {
  apiUrl?: string;
  /** The web console (served by the API at `/`). */
  consoleUrl?: string;
  docsUrl?: string;
  openapiUrl?: string;
  simulatorUrl?: string;
  /** The admin key file, as the operator should type it (relative to the current directory when inside it). */
  keyFile: string;
  /** The shell line that puts the key in $KEY. */
  useKey: string;
};

/** `file` relative to `cwd` when it lies inside it (`.fleet/admin-key`), else absolute. */
function displayPath(file: string, cwd: string): string {
  const relative = path.relative(cwd, file);
  return relative && !relative.startsWith('..') && !path.isAbsolute(relative) ? relative : file;
}

/** `text` as one shell word: as is when it holds only safe characters, else single-quoted. */
function shellWord(text: string): string {
  return /^[A-Za-z0-9_./:@%+=,-]+$/.test(text) ? text : `'${text.replaceAll("'", `'\\''`)}'`;
}

/** The URL an operator opens for a server listening on `host` (any interface: this machine's loopback). */
export function localUrl(host: string, port: number): string {
  const shown = host === '0.0.0.0' || host === '::' || host === '' ? '127.0.0.1' : host;
  return `http://${shown.includes(':') ? `[${shown}]` : shown}:${port}`;
}

export function readySummary(input: {
  api?: { host: string; port: number };
  simulator?: { host: string; port: number };
  keyFile: string;
  cwd: string;
}): ReadySummary {
  const keyFile = displayPath(input.keyFile, input.cwd);
  const apiUrl = input.api ? localUrl(input.api.host, input.api.port) : undefined;
  return {
    ...(apiUrl
      ? { apiUrl, consoleUrl: `${apiUrl}/`, docsUrl: `${apiUrl}/docs`, openapiUrl: `${apiUrl}/openapi.json` }
      : {}),
    ...(input.simulator ? { simulatorUrl: `${localUrl(input.simulator.host, input.simulator.port)}/` } : {}),
    keyFile,
    useKey: `KEY=$(cat ${shellWord(keyFile)})`,
  };
}

/** The summary as the lines a person reads on a terminal. */
export function readySummaryLines(summary: ReadySummary): string[] {
  const lines = ['fleet is up.'];
  if (summary.apiUrl) {
    lines.push(`  API        ${summary.apiUrl}`);
    lines.push(`  Console    ${summary.consoleUrl}   (sign in with the admin key)`);
    lines.push(`  API docs   ${summary.docsUrl}   (OpenAPI document: ${summary.openapiUrl})`);
  }
  if (summary.simulatorUrl) lines.push(`  Simulator  ${summary.simulatorUrl}`);
  lines.push(`  Admin key  in ${summary.keyFile} (readable by you alone); to use it:`);
  lines.push(`               ${summary.useKey}`);
  if (summary.apiUrl) lines.push(`               curl -H "Authorization: Bearer $KEY" ${summary.apiUrl}/v1/rollouts`);
  lines.push('Stop with Ctrl-C.');
  return lines;
}
