/**
 * `npm install -g ./apps/cli`, as docs/cli.md says, into a private prefix: the `fleet` it puts on that prefix's
 * PATH runs from another directory (npm links the folder, so the bin uses the checkout's dependencies).
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readlink, realpath, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from '@fleet/testing';

const exec = promisify(execFile);
let prefix: string;

beforeAll(async () => {
  prefix = await mkdtemp(path.join(tmpdir(), 'fleet-global-'));
});

afterAll(async () => {
  await rm(prefix, { recursive: true, force: true });
});

describe('npm install -g ./apps/cli', () => {
  it('puts a fleet bin on the prefix that answers --help (exit 0) from another directory', async () => {
    await exec('npm', ['install', '-g', '--prefix', prefix, '--no-audit', '--no-fund', './apps/cli'], {
      cwd: repoRoot(),
      timeout: 120_000,
    });
    // A link to the checkout's folder, not a copy of it.
    const installed = path.join(prefix, 'lib', 'node_modules', '@fleet', 'cli');
    expect(await realpath(installed)).toBe(await realpath(path.join(repoRoot(), 'apps', 'cli')));
    expect(await readlink(path.join(prefix, 'bin', 'fleet'))).toMatch(/bin\/fleet\.js$/);
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('FLEET_')));
    const help = await exec(path.join(prefix, 'bin', 'fleet'), ['--help'], { cwd: prefix, env, timeout: 30_000 });
    expect(help.stdout).toMatch(/^Usage: fleet /);
    expect(help.stdout).toMatch(/rollout[\s\S]+create-api-key/);
    // A client command too: its usage error, before anything is sent (exit 3).
    const refused = await exec(path.join(prefix, 'bin', 'fleet'), ['rollout', 'watch', 'x'], {
      cwd: prefix,
      env: { ...env, FLEET_URL: 'http://127.0.0.1:9', FLEET_API_KEY: 'flt_unused' },
      timeout: 30_000,
    }).catch((error: { code: number; stderr: string }) => error);
    expect(refused).toMatchObject({ code: 3 });
    expect((refused as { stderr: string }).stderr).toContain('a rollout id is a UUID');
  }, 180_000);
});
