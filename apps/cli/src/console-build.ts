/**
 * `fleet up` builds the web console (apps/dashboard, Vite) into apps/dashboard/dist, which the API serves at `/`,
 * unless that build is newer than every file it is made from (the console's own and the packages it bundles):
 * a second `up` starts at once.
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';

/** What the console is built from, relative to the repository root. */
const CONSOLE_SOURCES = [
  'apps/dashboard/src',
  'apps/dashboard/public',
  'apps/dashboard/index.html',
  'apps/dashboard/vite.config.ts',
  'apps/dashboard/package.json',
  'packages/api-client/src',
  'packages/rollout-domain/src',
];

function newestChange(file: string): number {
  if (!existsSync(file)) return 0;
  const stat = statSync(file);
  if (!stat.isDirectory()) return stat.mtimeMs;
  return Math.max(stat.mtimeMs, ...readdirSync(file).map((name) => newestChange(path.join(file, name))));
}

/** True when dist/index.html is missing or older than a source of the console. */
export function isConsoleBuildStale(repoRoot: string): boolean {
  const built = path.join(repoRoot, 'apps', 'dashboard', 'dist', 'index.html');
  if (!existsSync(built)) return true;
  const builtAt = statSync(built).mtimeMs;
  return CONSOLE_SOURCES.some((source) => newestChange(path.join(repoRoot, source)) > builtAt);
}

/**
 * Runs `vite build` of the console; resolves with what it printed when it fails (the caller logs it), or null.
 */
export function buildConsole(repoRoot: string): Promise<string | null> {
  return new Promise((resolve) => {
    const child = spawn('npm', ['run', 'build', '--workspace', '@fleet/dashboard'], {
      cwd: repoRoot,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d) => (output += String(d)));
    child.stderr.on('data', (d) => (output += String(d)));
    child.on('error', (error) => resolve(error.message));
    child.on('close', (code) => resolve(code === 0 ? null : output.slice(-4000)));
  });
}
