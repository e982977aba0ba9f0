import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { appNodeOptions } from '@fleet/lifecycle';

/** The repository root (bench/src/ -> ../..). */
export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** Keep the start and the end of a child's output (to find start-up lines, and to show when it fails). */
const OUTPUT_HEAD_CHARS = 16 * 1024;
const OUTPUT_TAIL_CHARS = 64 * 1024;

export type ChildScript = {
  label: string;
  pid: number;
  child: ChildProcess;
  /** stdout and stderr together: the first 16 KB and the last 64 KB. */
  output(): string;
  /** Lines of stdout seen so far that parse as JSON (how the baseline scripts report). */
  jsonLines(): unknown[];
  /** Resolves with the exit code once the process has exited. */
  exited: Promise<number | null>;
  /** SIGTERM, then SIGKILL if it has not exited after `graceMs`. Idempotent. */
  stop(graceMs?: number): Promise<void>;
};

/**
 * Runs a TypeScript entry point as its own Node process (`node --import tsx <file>`), the way the apps run in
 * production (`node --import tsx apps/<name>/src/main.ts`). The child's pid is the Node process itself, so its
 * memory can be read from /proc.
 */
export function spawnScript(
  label: string,
  file: string,
  env: Record<string, string>,
  cwd = path.dirname(file),
  nodeArgs: string[] = [],
): ChildScript {
  const child = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', file], {
    cwd,
    // METRICS_PORT off unless asked for: several workers of one run would collide on the default port.
    env: { ...process.env, METRICS_PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let head = '';
  let tail = '';
  let pending = '';
  const json: unknown[] = [];
  const keep = (text: string) => {
    if (head.length < OUTPUT_HEAD_CHARS) head += text.slice(0, OUTPUT_HEAD_CHARS - head.length);
    tail = (tail + text).slice(-OUTPUT_TAIL_CHARS);
  };
  child.stdout!.on('data', (chunk: Buffer) => {
    const text = String(chunk);
    keep(text);
    pending += text;
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) {
      if (!line.startsWith('{')) continue;
      try {
        json.push(JSON.parse(line));
      } catch {
        /* a log line that only looks like JSON */
      }
    }
  });
  child.stderr!.on('data', (chunk: Buffer) => keep(String(chunk)));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let stopping: Promise<void> | null = null;
  return {
    label,
    pid: child.pid!,
    child,
    output: () => (head.length < OUTPUT_HEAD_CHARS || tail.startsWith(head) ? tail : `${head}\n[...]\n${tail}`),
    jsonLines: () => json,
    exited,
    stop(graceMs = 15_000) {
      stopping ??= (async () => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
        await exited;
        clearTimeout(timer);
      })();
      return stopping;
    },
  };
}

/** Starts one of the product's apps from its real main.ts, with its node options (`nodeArgs` after them, to override). */
export function spawnApp(
  app: 'api' | 'worker' | 'simulator' | 'reconciler' | 'notifier',
  env: Record<string, string>,
  label: string = app,
  nodeArgs: string[] = [],
): ChildScript {
  return spawnScript(label, path.join(repoRoot, 'apps', app, 'src', 'main.ts'), env, path.join(repoRoot, 'apps', app), [
    ...appNodeOptions(app),
    ...nodeArgs,
  ]);
}

export type ProcessMemory = { rssBytes: number; hwmBytes: number };

/** Resident set size now and its high-water mark since the process started (Linux /proc). Null once it exited. */
export async function readProcessMemory(pid: number): Promise<ProcessMemory | null> {
  let status: string;
  try {
    status = await readFile(`/proc/${pid}/status`, 'utf8');
  } catch {
    return null;
  }
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
  return { rssBytes: kb('VmRSS'), hwmBytes: kb('VmHWM') };
}

export type MemoryTrace = {
  /** [ms since the trace started, RSS bytes] */
  samples: [number, number][];
  firstRssBytes: number;
  lastRssBytes: number;
  peakRssBytes: number;
  /** VmHWM at the end: the process-lifetime peak, which also catches spikes between two samples. */
  hwmBytes: number;
};

/** Samples a process's RSS every `intervalMs` until stopped. */
export function traceMemory(pid: number, intervalMs = 200): { stop(): Promise<MemoryTrace>; latest(): number } {
  const started = Date.now();
  const samples: [number, number][] = [];
  let hwm = 0;
  let busy: Promise<void> = Promise.resolve();
  const sample = () => {
    busy = readProcessMemory(pid).then((m) => {
      if (!m) return;
      samples.push([Date.now() - started, m.rssBytes]);
      hwm = m.hwmBytes;
    });
  };
  sample();
  const timer = setInterval(sample, intervalMs);
  return {
    latest: () => samples.at(-1)?.[1] ?? 0,
    async stop() {
      clearInterval(timer);
      await busy;
      sample();
      await busy;
      const rss = samples.map(([, b]) => b);
      return {
        samples,
        firstRssBytes: rss[0] ?? 0,
        lastRssBytes: rss.at(-1) ?? 0,
        peakRssBytes: Math.max(0, ...rss),
        hwmBytes: hwm,
      };
    },
  };
}

export { freePort } from '@fleet/testing';

/** Waits until `url` answers 2xx, or throws after `timeoutMs` with what `describe` says about the process. */
export async function waitForHttp(url: string, timeoutMs: number, describe: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const res = await fetch(url);
      await res.arrayBuffer();
      if (res.ok) return;
    } catch {
      /* not listening yet */
    }
    if (Date.now() > deadline) throw new Error(`${url} did not come up within ${timeoutMs} ms\n${describe()}`);
    await sleep(100);
  }
}

/** Waits until a child has printed `text`, or throws (also if the child exits first). */
export async function waitForOutput(script: ChildScript, text: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exited = false;
  void script.exited.then(() => (exited = true));
  while (!script.output().includes(text)) {
    if (exited) throw new Error(`${script.label} exited before printing "${text}"\n${script.output().slice(-4000)}`);
    if (Date.now() > deadline)
      throw new Error(
        `${script.label} did not print "${text}" within ${timeoutMs} ms\n${script.output().slice(-4000)}`,
      );
    await sleep(50);
  }
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
