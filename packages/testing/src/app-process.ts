import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import path from 'node:path';
import { appLaunchArgs } from '@fleet/lifecycle';
import type { FleetApp } from '@fleet/lifecycle';
import { repoRoot } from './test-database.ts';

export type AppName = FleetApp;

export type AppProcess = {
  child: ChildProcess;
  pid: number;
  /** Everything it has written so far, stdout and stderr together. */
  output: () => string;
  /** Sends `signal` (default SIGTERM) unless it has already exited; resolves with its exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  /** SIGKILL unless it has already exited; resolves once it has. */
  kill(): Promise<void>;
};

/** Starts an app's real main.ts as its own process (node + tsx), with `env` on top of this process's environment. */
export function spawnApp(app: AppName, env: Record<string, string>): AppProcess {
  const root = repoRoot();
  const child = spawn(process.execPath, appLaunchArgs(app, root), {
    cwd: path.join(root, 'apps', app),
    env: { ...process.env, LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += String(d)));
  child.stderr!.on('data', (d) => (out += String(d)));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    child,
    pid: child.pid!,
    output: () => out,
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
