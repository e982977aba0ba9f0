/**
 * Every `fleet` client command's happy path and a refused case, run as its bin against the real API, worker and
 * simulator: login and profiles, reads in each output format, actions on a rollout, flags and keys, completion.
 */
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '@fleet/testing';
import { USER_ID, createArgs, idsWithFate, runFleet, startProduct } from './fleet-harness.ts';
import type { Product } from './fleet-harness.ts';

let product: Product;
let dir: string;
/** A completed rollout with 3 succeeded and 2 failed (flagged) instances. */
let finished: { id: string; failed: string[]; ok: string[] };

const fleet = (args: string[], options: { input?: string; env?: Record<string, string> } = {}) =>
  runFleet(args, {
    env: { ...product.fleetEnv, ...options.env },
    ...(options.input === undefined ? {} : { input: options.input }),
  });

beforeAll(async () => {
  product = await startProduct('cli-commands', { reconciler: true });
  dir = await mkdtemp(path.join(tmpdir(), 'fleet-cmd-'));
  const ok = idsWithFate('cmd', 3, 'ok');
  const failed = idsWithFate('cmd', 2, 'fail');
  const idsFile = path.join(dir, 'ids.txt');
  await writeFile(idsFile, [...ok, ...failed].join('\n'));
  const run = await fleet(
    createArgs(idsFile, '--max-attempts', '1', '--watch', '--output', 'json', '--poll-interval', '200'),
  );
  expect(run.code, run.stderr).toBe(1);
  const recap = JSON.parse(run.stdout.trim().split('\n').at(-1)!) as { rolloutId: string };
  finished = { id: recap.rolloutId, ok, failed };
  // The reconciler raises the failed hosts' manual-install flags once the rollout is over.
  await waitFor('the two flags', async () => {
    const res = await fetch(`${product.apiUrl}/v1/manual-install-flags?rolloutId=${finished.id}`, {
      headers: { authorization: `Bearer ${product.adminKey}` },
    });
    return ((await res.json()) as { items: unknown[] }).items.length === 2;
  });
}, 120_000);

afterAll(async () => {
  await product?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('fleet login', () => {
  it('stores the URL and the key from stdin in a mode-0600 file, which the other commands then use', async () => {
    const config = path.join(dir, 'cfg', 'config.json');
    const env = { FLEET_CONFIG: config, FLEET_URL: '', FLEET_API_KEY: '' };
    const login = await runFleet(['login', '--url', product.apiUrl, '--profile', 'lab'], {
      env,
      input: `${product.adminKey}\n`,
    });
    expect(login.code, login.stderr).toBe(0);
    expect(login.stderr + login.stdout).not.toContain(product.adminKey);
    expect((await stat(config)).mode & 0o777).toBe(0o600);
    expect(JSON.parse(await readFile(config, 'utf8'))).toEqual({
      profiles: { lab: { url: product.apiUrl, apiKey: product.adminKey } },
    });
    const list = await runFleet(['--profile', 'lab', 'rollout', 'list', '--output', 'json'], { env });
    expect(list.code, list.stderr).toBe(0);
    expect(JSON.parse(list.stdout).items.map((r: { id: string }) => r.id)).toContain(finished.id);
    const missing = await runFleet(['--profile', 'nope', 'rollout', 'list'], { env });
    expect(missing.code).toBe(3);
    expect(missing.stderr).toContain('no profile "nope"');
  });

  it('refuses a key the API does not know and stores nothing (exit 4)', async () => {
    const config = path.join(dir, 'refused.json');
    const login = await runFleet(['login', '--url', product.apiUrl], {
      env: { FLEET_CONFIG: config },
      input: `flt_${'x'.repeat(43)}\n`,
    });
    expect(login.code).toBe(4);
    expect(login.stderr).toContain('(401 unauthenticated)');
    await expect(stat(config)).rejects.toThrow(/ENOENT/);
  });
});

describe('fleet rollout reads', () => {
  it('list, get, instances and instance in table, json and yaml', async () => {
    const table = await fleet(['rollout', 'list', '--status', 'completed']);
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout.split('\n')[0]).toMatch(/^ID\s+STATUS\s+USER ID\s+INSTANCES/);
    expect(table.stdout).toContain(finished.id);
    const get = await fleet(['rollout', 'get', finished.id, '--output', 'yaml']);
    expect(parseYaml(get.stdout)).toMatchObject({
      id: finished.id,
      status: 'completed',
      counts: { succeeded: 3, failed: 2 },
    });
    const failed = await fleet(['rollout', 'instances', finished.id, '--state', 'failed', '--output', 'json']);
    expect(
      JSON.parse(failed.stdout)
        .items.map((i: { instanceId: string }) => i.instanceId)
        .sort(),
    ).toEqual([...finished.failed].sort());
    const one = await fleet(['rollout', 'instance', finished.id, finished.failed[0]!]);
    expect(one.code, one.stderr).toBe(0);
    expect(one.stdout).toMatch(/REQUEST ID/);
    expect(one.stdout).toMatch(/[0-9A-F]{8}-[0-9A-F]{4}-/i);
    const badState = await fleet(['rollout', 'instances', finished.id, '--state', 'broken']);
    expect(badState.code).toBe(3);
    expect(badState.stderr).toContain('--state must be one of pending, in_progress, succeeded, failed, cancelled');
    const unknown = await fleet(['rollout', 'instance', finished.id, 'i-notinthisrollout']);
    expect(unknown.code).toBe(4);
    expect(unknown.stderr).toContain('(404 not_found)');
  });

  it('watch of a finished rollout ends at once with its recap; a bad id is refused before anything is sent (exit 3)', async () => {
    const watch = await fleet(['rollout', 'watch', finished.id]);
    expect(watch.code, watch.stderr).toBe(1);
    expect(watch.stdout).toMatch(/total=5 {2}succeeded=3 {2}failed=2/);
    const bad = await fleet(['rollout', 'watch', 'not-a-rollout-id']);
    expect(bad.code).toBe(3);
    expect(bad.stderr).toContain('a rollout id is a UUID; got "not-a-rollout-id"');
  });

  it('report as a table of causes with actions, as JSON, and as CSV into a file', async () => {
    const table = await fleet(['rollout', 'report', finished.id]);
    expect(table.stdout).toMatch(/2 failures in 1 cause\b/);
    expect(table.stdout).toContain('action: ');
    const json = await fleet(['rollout', 'report', finished.id, '--format', 'json']);
    expect(JSON.parse(json.stdout)).toMatchObject({ failures: { total: 2 } });
    const csvFile = path.join(dir, 'report.csv');
    const csv = await fleet(['rollout', 'report', finished.id, '--format', 'csv', '--output', csvFile]);
    expect(csv.code, csv.stderr).toBe(0);
    const rows = (await readFile(csvFile, 'utf8')).trim().split('\n');
    expect(rows).toHaveLength(3);
    expect((await fleet(['rollout', 'report', finished.id, '--format', 'pdf'])).code).toBe(3);
  });
});

describe('fleet rollout actions', () => {
  it(
    'pause, set, resume and cancel a running rollout; a finished one is refused (exit 4)',
    { timeout: 180_000 },
    async () => {
      const file = path.join(dir, 'slow.txt');
      await writeFile(file, idsWithFate('act', 3000, 'ok').join('\n'));
      const made = await fleet(createArgs(file, '--concurrency', '1', '--output', 'json'));
      const id = JSON.parse(made.stdout).id as string;
      expect((await fleet(['rollout', 'pause', id, '--reason', 'look first'])).stdout).toContain(
        `rollout ${id} paused`,
      );
      expect((await fleet(['rollout', 'pause', id])).stdout).toContain('was already paused');
      const set = await fleet(['rollout', 'set', id, '--concurrency', '5', '--output', 'json']);
      expect(JSON.parse(set.stdout)).toMatchObject({ id, concurrency: 5 });
      expect((await fleet(['rollout', 'set', id])).code).toBe(3);
      expect((await fleet(['rollout', 'resume', id])).stdout).toContain('resumed');
      expect((await fleet(['rollout', 'cancel', id, '--reason', 'done testing'])).stdout).toContain('cancelled');
      const again = await fleet(['rollout', 'resume', id]);
      expect(again.code).toBe(4);
      expect(again.stderr).toContain('409');
    },
  );

  it('retry makes a new rollout of the failed instances; a second while it runs is refused', async () => {
    const retry = await fleet(['rollout', 'retry', finished.id, '--output', 'json']);
    expect(retry.code, retry.stderr).toBe(0);
    expect(JSON.parse(retry.stdout)).toMatchObject({ parentRolloutId: finished.id, retryOf: { instances: 2 } });
    const watch = await fleet(['rollout', 'watch', JSON.parse(retry.stdout).id, '--poll-interval', '200']);
    expect(watch.code).toBe(1);
    const bad = await fleet(['rollout', 'retry', 'not-a-uuid']);
    expect(bad.code).toBe(3);
  });

  it('retry --cause retries the failures of that cause, which the new rollout names; an unknown cause is refused', async () => {
    const report = JSON.parse((await fleet(['rollout', 'report', finished.id, '--format', 'json'])).stdout) as {
      failures: { groups: { cause: string; count: number }[] };
    };
    const group = report.failures.groups[0]!;
    const retry = await fleet(['rollout', 'retry', finished.id, '--cause', group.cause, '--output', 'json']);
    expect(retry.code, retry.stderr).toBe(0);
    const child = JSON.parse(retry.stdout) as { id: string; retryOf: unknown };
    expect(child.retryOf).toEqual({ rolloutId: finished.id, cause: group.cause, instances: group.count });
    const watched = await fleet(['rollout', 'watch', child.id, '--poll-interval', '200']);
    expect(watched.code).toBe(1);
    const unknown = await fleet(['rollout', 'retry', finished.id, '--cause', 'no such cause']);
    expect(unknown.code).toBe(4);
    expect(unknown.stderr).toContain('(400 validation_failed)');
    expect(unknown.stderr).toMatch(/- cause: not a cause of this rollout's failures/);
  });
});

describe('fleet rollout start-now', () => {
  it('starts a rollout scheduled an hour ahead at once; a running one is refused (exit 4)', async () => {
    const res = await fetch(`${product.apiUrl}/v1/rollouts`, {
      method: 'POST',
      headers: { authorization: `Bearer ${product.adminKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        userId: USER_ID,
        instanceIds: idsWithFate('later', 2, 'ok'),
        schedule: { startAt: new Date(Date.now() + 3_600_000).toISOString(), endBehavior: 'pause' },
      }),
    });
    const scheduled = (await res.json()) as { id: string; status: string };
    expect(res.status, JSON.stringify(scheduled)).toBe(202);
    expect(scheduled.status).toBe('scheduled');
    const started = await fleet(['rollout', 'start-now', scheduled.id, '--output', 'json']);
    expect(started.code, started.stderr).toBe(0);
    expect(JSON.parse(started.stdout)).toMatchObject({ id: scheduled.id, changed: true, status: 'running' });
    await waitFor('the rollout completed', async () => {
      const get = await fleet(['rollout', 'get', scheduled.id, '--output', 'json']);
      return (JSON.parse(get.stdout) as { status: string }).status === 'completed';
    });
    const again = await fleet(['rollout', 'start-now', scheduled.id]);
    expect(again.code).toBe(4);
  }, 60_000);
});

describe('fleet rollout events', () => {
  it("prints the finished rollout's timeline, oldest first, in lines and JSON; --follow ends with it", async () => {
    const lines = await fleet(['rollout', 'events', finished.id]);
    expect(lines.code, lines.stderr).toBe(0);
    expect(lines.stdout.split('\n')[0]).toMatch(/^\d\d:\d\d:\d\d created/);
    expect(lines.stdout).toMatch(/\d\d:\d\d:\d\d completed/);
    const json = await fleet(['rollout', 'events', finished.id, '--output', 'json']);
    const types = json.stdout
      .trim()
      .split('\n')
      .map((l) => (JSON.parse(l) as { type: string }).type);
    expect(types[0]).toBe('rollout.created');
    expect(types).toContain('rollout.completed');
    const follow = await fleet(['rollout', 'events', finished.id, '--follow', '--output', 'json']);
    expect(follow.code, follow.stderr).toBe(0);
    expect(
      follow.stdout
        .trim()
        .split('\n')
        .map((l) => (JSON.parse(l) as { type: string }).type),
    ).toEqual(types);
    expect((await fleet(['rollout', 'events', finished.id, '--follow', '--output', 'yaml'])).code).toBe(3);
  });

  it('--follow of a running rollout prints its events as they commit, each once, and ends after the final one', async () => {
    const idsFile = path.join(dir, 'follow.txt');
    await writeFile(idsFile, idsWithFate('follow', 10, 'ok').join('\n'));
    const created = await fleet(createArgs(idsFile, '--concurrency', '1', '--output', 'json'));
    expect(created.code, created.stderr).toBe(0);
    const id = (JSON.parse(created.stdout) as { id: string }).id;
    const follow = await fleet(['rollout', 'events', id, '--follow', '--output', 'json']);
    expect(follow.code, follow.stderr).toBe(0);
    const followed = follow.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { id: string; type: string });
    expect(followed[0]!.type).toBe('rollout.created');
    expect(followed.at(-1)!.type).toBe('rollout.completed');
    const timeline = await fleet(['rollout', 'events', id, '--output', 'json']);
    expect(followed.map((e) => e.id)).toEqual(
      timeline.stdout
        .trim()
        .split('\n')
        .map((l) => (JSON.parse(l) as { id: string }).id),
    );
  }, 60_000);
});

describe('fleet flags', () => {
  it('lists the open flags of the failed hosts and moves several at once; resolve needs a note', async () => {
    const list = await fleet(['flags', 'list', '--status', 'open', '--rollout', finished.id, '--output', 'json']);
    expect(list.code, list.stderr).toBe(0);
    const flags = JSON.parse(list.stdout).items as { id: string; instanceId: string }[];
    expect(flags.map((f) => f.instanceId).sort()).toEqual([...finished.failed].sort());
    const ack = await fleet(['flags', 'ack', ...flags.map((f) => f.id), '--note', 'mine']);
    expect(ack.code, ack.stderr).toBe(0);
    expect(ack.stdout.trim().split('\n')).toHaveLength(2);
    expect((await fleet(['flags', 'resolve', flags[0]!.id])).code).toBe(3);
    expect((await fleet(['flags', 'resolve', flags[0]!.id, '--note', 'installed by hand'])).stdout).toContain(
      'resolved',
    );
    // closed is final: resolving both refuses the closed one and still resolves the other.
    expect((await fleet(['flags', 'close', flags[0]!.id])).stdout).toContain('closed');
    const resolve = await fleet(['flags', 'resolve', flags[0]!.id, flags[1]!.id, '--note', 'by hand']);
    expect(resolve.code).toBe(4);
    expect(resolve.stderr).toContain('409 flag_transition_refused');
    expect(resolve.stdout).toContain(`flag ${flags[1]!.id} (${flags[1]!.instanceId}) resolved`);
  });

  it('refuses a status that is not one, before anything is sent (exit 3)', async () => {
    const run = await fleet(['flags', 'list', '--status', 'bogus']);
    expect(run.code).toBe(3);
    expect(run.stderr).toContain('--status must be one of');
    expect(run.stderr).toContain('got "bogus"');
  });
});

describe('fleet keys', () => {
  it('creates a key printed once alone on stdout, lists it without the key, revokes it; a viewer may not', async () => {
    const made = await fleet(['keys', 'create', '--name', 'ci', '--role', 'viewer', '--user-id', USER_ID]);
    expect(made.code, made.stderr).toBe(0);
    const key = made.stdout.trim();
    expect(key).toMatch(/^flt_\S+$/);
    const list = await fleet(['keys', 'list', '--output', 'json']);
    const listed = JSON.parse(list.stdout).items.find((k: { name: string }) => k.name === 'ci');
    expect(list.stdout).not.toContain(key);
    const refused = await runFleet(['keys', 'list'], { env: { FLEET_URL: product.apiUrl, FLEET_API_KEY: key } });
    expect(refused.code).toBe(4);
    expect(refused.stderr).toContain('403');
    expect((await fleet(['keys', 'revoke', listed.id])).code).toBe(0);
    expect((await runFleet(['rollout', 'list'], { env: { FLEET_URL: product.apiUrl, FLEET_API_KEY: key } })).code).toBe(
      4,
    );
    expect((await fleet(['keys', 'create', '--name', 'x', '--role', 'root', '--all-accounts'])).code).toBe(3);
    const unknown = await fleet(['keys', 'revoke', '00000000-0000-4000-8000-000000000000']);
    expect(unknown.code).toBe(4);
    expect(unknown.stderr).toContain('(404 not_found)');
    expect(unknown.stderr).not.toContain('revoked API key');
  });
});

describe('fleet completion and help', () => {
  it('prints a completion script for bash, zsh and fish that names the commands; another shell is refused', async () => {
    for (const shell of ['bash', 'zsh', 'fish']) {
      const run = await runFleet(['completion', shell]);
      expect(run.code).toBe(0);
      expect(run.stdout).toContain('rollout');
      expect(run.stdout).toContain('create');
    }
    expect((await runFleet(['completion', 'tcsh'])).code).toBe(3);
  });

  it('--help lists the client and the local commands (exit 0); an unknown command is a usage error (exit 3)', async () => {
    const help = await runFleet(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/rollout[\s\S]+create-api-key/);
    expect((await runFleet(['rollouts'])).code).toBe(3);
  });

  it('the local commands stay reachable through the same bin: create-api-key checks its arguments (exit 2)', async () => {
    const run = await runFleet(['create-api-key', '--role', 'viewer']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('usage: fleet create-api-key --name <name>');
  });
});
