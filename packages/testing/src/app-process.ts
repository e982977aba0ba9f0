import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import path from 'node:path';
import { appLaunchArgs } from '@fleet/lifecycle';
import type { RepoApp } from '@fleet/lifecycle';
import { repoRoot } from './test-database.ts';
import { testRedisUrl } from './test-redis.ts';
import { waitFor } from './wait-for.ts';

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

type SpawnAppOptions = {
  /** After main.ts: the CLI's command, `['up']`. Default none. */
  args?: string[];
  /**
   * Starts it as the leader of a process group of its own, as a shell starts a foreground job, so that
   * `process.kill(-pid, 'SIGINT')` reaches it and every process it left in its group, as a Ctrl-C does. Default false.
   */
  processGroup?: boolean;
  /** Node options after `--import tsx` and before main.ts, e.g. another `--import`. Default none. */
  nodeArgs?: string[];
};

/**
 * Starts an app's real main.ts as its own process (node + tsx), with `env` on top of this process's environment and
 * `options.args` after main.ts.
 */
export function spawnApp(app: AppName, env: Record<string, string>, options: SpawnAppOptions = {}): AppProcess {
  const root = repoRoot();
  const args = options.args ?? [];
  const launch = appLaunchArgs(app, root, args);
  // appLaunchArgs ends with main.ts and `args`: the extra node options go just before main.ts.
  const mainAt = launch.length - args.length - 1;
  const argv = [...launch.slice(0, mainAt), ...(options.nodeArgs ?? []), ...launch.slice(mainAt)];
  const child = spawn(process.execPath, argv, {
    cwd: path.join(root, 'apps', app),
    detached: options.processGroup ?? false,
    // METRICS_PORT 0 (off) unless a test asks for one: the default ports (9464, 9465) would collide between the
    // processes of one test and between test files running at once.
    env: { ...process.env, LOG_LEVEL: 'info', METRICS_PORT: '0', ...env },
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

/** Where the app processes of a test listen, and the environment that says so. */
export type LocalApps = {
  /** `http://127.0.0.1:<port>` (no trailing slash). */
  apiUrl: string;
  /** `http://127.0.0.1:<port>/` (with the slash, as CMS_ENDPOINT takes it). */
  simulatorUrl: string;
  /**
   * DATABASE_URL, REDIS_URL (the test Redis), QUEUE_PREFIX, the API's PORT and HOST, SIMULATOR_PORT, and
   * CMS_ENDPOINT pointing workers at that simulator: what every app needs to run against the test's own services.
   */
  env: Record<string, string>;
};

/** Free ports for an API and a simulator on 127.0.0.1, and the environment of apps using them, `databaseUrl` and `prefix`. */
export async function localAppsEnv(services: { databaseUrl: string; prefix: string }): Promise<LocalApps> {
  const apiPort = await freePort();
  let simulatorPort = await freePort();
  // The first port was released before the second was asked for: the system may hand it out again.
  while (simulatorPort === apiPort) simulatorPort = await freePort();
  const simulatorUrl = `http://127.0.0.1:${simulatorPort}/`;
  return {
    apiUrl: `http://127.0.0.1:${apiPort}`,
    simulatorUrl,
    env: {
      DATABASE_URL: services.databaseUrl,
      REDIS_URL: testRedisUrl(),
      QUEUE_PREFIX: services.prefix,
      PORT: String(apiPort),
      HOST: '127.0.0.1',
      SIMULATOR_PORT: String(simulatorPort),
      CMS_ENDPOINT: simulatorUrl,
    },
  };
}

/**
 * Waits until GET `url` answers 200 (an app process just spawned: a refused connection or another status counts as
 * not yet), with waitFor's timeout (default 30 s) and an interval of 100 ms unless told.
 */
export async function waitForHttpOk(
  what: string,
  url: string,
  options: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<void> {
  await waitFor(what, async () => (await fetch(url, { signal: AbortSignal.timeout(5000) })).status === 200, {
    intervalMs: 100,
    ...options,
  });
}
