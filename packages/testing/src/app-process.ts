import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import path from 'node:path';
import { appLaunchArgs } from '@fleet/lifecycle';
import type { RepoApp } from '@fleet/lifecycle';
import { repoRoot } from './test-database.ts';

/** An app of the repository: the product's four processes and the operator CLI (`cli`, given its command in `args`). */
export type AppName = RepoApp;

export type AppProcess = {
  child: ChildProcess;
  pid: number;
  /** Everything it has written so far, stdout and stderr together. */
  output: () => string;
  /** What it has written so far to stdout alone. */
  stdout: () => string;
  /** What it has written so far to stderr alone. */
  stderr: () => string;
  /** Resolves with its exit code once it has exited (null when a signal ended it). */
  exited: Promise<number | null>;
  /**
   * Resolves with its exit code once it has exited and its stdout and stderr are read to the end; never while a
   * process it started still holds them (the CLI's apps).
   */
  closed: Promise<number | null>;
  /** Sends `signal` (default SIGTERM) unless it has already exited; resolves with its exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  /** SIGKILL unless it has already exited; resolves once it has. */
  kill(): Promise<void>;
};

/**
 * Starts an app's real main.ts as its own process (node + tsx), with `env` on top of this process's environment and
 * `options.args` after main.ts (the CLI's command: `['up']`).
 */
export function spawnApp(app: AppName, env: Record<string, string>, options: { args?: string[] } = {}): AppProcess {
  const root = repoRoot();
  const child = spawn(process.execPath, appLaunchArgs(app, root, options.args ?? []), {
    cwd: path.join(root, 'apps', app),
    env: { ...process.env, LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => {
    out += String(d);
    stdout += String(d);
  });
  child.stderr!.on('data', (d) => {
    out += String(d);
    stderr += String(d);
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const closed = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  return {
    child,
    pid: child.pid!,
    output: () => out,
    stdout: () => stdout,
    stderr: () => stderr,
    exited,
    closed,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}

/** A TCP port on 127.0.0.1 that was free a moment ago, for an app process that must be told its port. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}
