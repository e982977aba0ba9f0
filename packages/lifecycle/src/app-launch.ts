import path from 'node:path';

/** The product's processes, each started from `apps/<app>/src/main.ts` (what `fleet up` runs). */
export type FleetApp = 'simulator' | 'api' | 'worker' | 'reconciler' | 'notifier';
/** Every app of the repository: the product's processes and the operator CLI (`fleet`). */
export type RepoApp = FleetApp | 'cli';

/**
 * Node options an app is started with, wherever it is started from (`npm start`, the tests, the benchmark; the
 * app's own `start` script and docker-compose.yml repeat them, as they cannot import this).
 *
 * The API caps V8's old generation at 256 MiB. Its working set is small whatever the rollout size (rows and jobs go
 * through in pages of 5,000 and chunks of 250; the largest body is BODY_LIMIT_BYTES), but enqueueing a large rollout
 * leaves BullMQ's and ioredis's per-job objects behind, and with the default limit (a quarter of the machine's
 * memory, up to 4 GiB) V8 lets the heap grow with them before collecting: measured on the 2-core reference machine,
 * creating a 100,000-instance rollout grew the API's RSS by 158 MiB against 12 MiB for 10,000; with the cap, 47 MiB
 * against 31 MiB, in the same time to 202.
 */
export function appNodeOptions(app: RepoApp): string[] {
  return app === 'api' ? ['--max-old-space-size=256'] : [];
}

/**
 * What follows `node` to start an app of the repository at `repoRoot` from its main.ts (run with its folder as cwd),
 * `args` after it (the CLI's command).
 */
export function appLaunchArgs(app: RepoApp, repoRoot: string, args: readonly string[] = []): string[] {
  return [...appNodeOptions(app), '--import', 'tsx', path.join(repoRoot, 'apps', app, 'src', 'main.ts'), ...args];
}
