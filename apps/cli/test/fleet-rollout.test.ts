/**
 * `fleet rollout` against the real API, worker and simulator, run as its bin: create from each file format and from
 * stdin, bad ids refused with their lines before anything is sent, 100,000 ids, and every exit code of a watch.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '@fleet/testing';
import { USER_ID, createArgs, idsWithFate, runFleet, startProduct } from './fleet-harness.ts';
import type { FleetRun, Product } from './fleet-harness.ts';

let product: Product;
let dir: string;

beforeAll(async () => {
  product = await startProduct('cli-rollout');
  dir = await mkdtemp(path.join(tmpdir(), 'fleet-cli-'));
}, 90_000);

afterAll(async () => {
  await product?.stop();
  await rm(dir, { recursive: true, force: true });
});

const fleet = (args: string[], input?: string) =>
  runFleet(args, { env: product.fleetEnv, ...(input === undefined ? {} : { input }) });

async function file(name: string, text: string): Promise<string> {
  const p = path.join(dir, name);
  await writeFile(p, text);
  return p;
}

/** The rollout a `create --output json` printed. */
function created(run: FleetRun): { id: string; counts: { total: number }; status: string } {
  expect(run.code, run.stderr).toBe(0);
  return JSON.parse(run.stdout);
}

async function rolloutCount(): Promise<number> {
  const res = await fetch(`${product.apiUrl}/v1/rollouts?limit=200`, {
    headers: { authorization: `Bearer ${product.adminKey}` },
  });
  return ((await res.json()) as { items: unknown[] }).items.length;
}

describe('fleet rollout create reads every file format', () => {
  it('takes plain text with comments and blanks, CSV with InstanceId, JSON arrays and objects, and stdin', async () => {
    const ids = idsWithFate('fmt', 4, 'ok');
    const text = await file('ids.txt', `# canary hosts\n${ids[0]}\n\n${ids[1]}  # web\n`);
    const csv = await file('ids.csv', `Name,InstanceId,Zone\nweb,${ids[0]},cn-a\n"db, main",${ids[1]},cn-b\n`);
    const json = await file('ids.json', JSON.stringify(ids));
    const object = await file('object.json', JSON.stringify({ note: 'x', instanceIds: ids.slice(0, 3) }));
    const base = ['rollout', 'create', '--user-id', USER_ID, '--output', 'json'];
    expect(created(await fleet([...base, '--file', text])).counts.total).toBe(2);
    expect(created(await fleet([...base, '--file', csv])).counts.total).toBe(2);
    expect(created(await fleet([...base, '--file', json])).counts.total).toBe(4);
    expect(created(await fleet([...base, '--file', object])).counts.total).toBe(3);
    expect(created(await fleet([...base, '-'], `${ids.join('\n')}\n${ids[0]}\n`)).counts.total).toBe(4);
  });

  it('lists bad ids with their line numbers and sends nothing (exit 3)', async () => {
    const before = await rolloutCount();
    const ids = idsWithFate('bad', 3, 'ok');
    const text = await file('bad.txt', `${ids[0]}\n# comment\nI-UPPER\n${ids[1]}\n\nnot an id\n${ids[2]}\n`);
    const run = await fleet(createArgs(text));
    expect(run.code).toBe(3);
    expect(run.stderr).toContain('2 bad instance ids');
    expect(run.stderr).toContain(`${text}:3: "I-UPPER"`);
    expect(run.stderr).toContain(`${text}:6: "not an id"`);
    const json = await file('bad.json', `[\n  "${ids[0]}",\n  "i-ok1",\n  "i_bad"\n]\n`);
    const jsonRun = await fleet(createArgs(json));
    expect(jsonRun.code).toBe(3);
    expect(jsonRun.stderr).toContain(`${json}:4: "i_bad"`);
    expect(await rolloutCount()).toBe(before);
  });

  it('refuses bad flags before reading the file, and --dry-run with --watch (exit 3)', async () => {
    const ids = await file('one.txt', 'i-one\n');
    const bad = await fleet(createArgs(ids, '--concurrency', 'lots'));
    expect(bad.code).toBe(3);
    expect(bad.stderr).toContain('--concurrency must be a number such as 50 or a share such as 10%; got "lots"');
    const dry = await fleet(createArgs(ids, '--dry-run', '--watch'));
    expect(dry.code).toBe(3);
    expect(dry.stderr).toContain('--dry-run creates nothing to --watch');
    const unknown = await fleet(createArgs(ids, '--nope'));
    expect(unknown.code).toBe(3);
    const before = await rolloutCount();
    const driver = await fleet(createArgs(ids, '--driver', 'NodeInstall'));
    expect(driver.code).toBe(3);
    expect(driver.stderr).toContain(
      '--driver must be one of node-install, install-monitoring-agent; got "NodeInstall"',
    );
    expect(await rolloutCount()).toBe(before);
  });

  it('--driver install-monitoring-agent is sent in the policy, and rollout show and get print the driver', async () => {
    const ids = await file('driver.txt', `${idsWithFate('drv', 2, 'ok').join('\n')}\n`);
    const made = await fleet(createArgs(ids, '--driver', 'install-monitoring-agent'));
    expect(made.code, made.stderr).toBe(0);
    expect(made.stdout).toMatch(/driver\s+install-monitoring-agent/);
    const id = /rollout\s+([0-9a-f-]{36})/.exec(made.stdout)![1]!;
    const shown = await fleet(['rollout', 'show', id]);
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout).toMatch(/driver\s+install-monitoring-agent/);
    const json = JSON.parse((await fleet(['rollout', 'get', id, '--output', 'json'])).stdout);
    expect(json.policy.driver).toBe('install-monitoring-agent');
    // Without --driver: today's NodeInstall, shown as such.
    const plain = created(await fleet(createArgs(ids, '--output', 'json')));
    const got = await fleet(['rollout', 'get', plain.id]);
    expect(got.stdout).toMatch(/driver\s+node-install/);
  });

  it('--dry-run prints the plan (waves, limits, estimate) and creates nothing', async () => {
    const before = await rolloutCount();
    const ids = await file('dry.txt', `${idsWithFate('dry', 10, 'ok').join('\n')}\n`);
    const json = await fleet(
      createArgs(ids, '--dry-run', '--waves', '2,50%', '--concurrency', '3', '--output', 'json'),
    );
    expect(json.code, json.stderr).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({
      dryRun: true,
      valid: true,
      instances: { accepted: 10, refused: 0 },
      waves: [
        { wave: 1, size: 2 },
        { wave: 2, size: 5 },
        { wave: 3, size: 3 },
      ],
      limits: { concurrency: 3 },
    });
    const table = await fleet(createArgs(ids, '--dry-run'));
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).toMatch(/dry run\s+nothing was created/);
    expect(table.stdout).toMatch(/estimate\s+\d+ s/);
    expect(await rolloutCount()).toBe(before);
  });

  it('creates a rollout of 100,000 ids from a file, pauses it, then cancels every instance', async () => {
    const ids = Array.from({ length: 100_000 }, (_, i) => `i-big${i.toString(36).padStart(6, '0')}`);
    const big = await file('big.txt', `${ids.join('\n')}\n`);
    const rollout = created(await fleet(createArgs(big, '--concurrency', '1', '--output', 'json')));
    expect(rollout.counts.total).toBe(100_000);
    const pause = await fleet(['rollout', 'pause', rollout.id, '--reason', 'test over', '--output', 'json']);
    expect(pause.code, pause.stderr).toBe(0);
    expect(JSON.parse(pause.stdout)).toMatchObject({ status: 'paused', changed: true, statusReason: 'test over' });
    // One statement in the transaction of the status change: it once ran past Prisma's 5 s default and answered 500.
    const cancel = await fleet(['rollout', 'cancel', rollout.id, '--reason', 'test over', '--output', 'json']);
    expect(cancel.code, cancel.stderr).toBe(0);
    expect(JSON.parse(cancel.stdout)).toMatchObject({ status: 'cancelled', changed: true });
    const after = JSON.parse((await fleet(['rollout', 'get', rollout.id, '--output', 'json'])).stdout);
    expect(after.counts).toMatchObject({
      total: 100_000,
      cancelled: 100_000 - after.counts.succeeded - after.counts.failed,
    });
  }, 120_000);
});

describe('fleet rollout create --watch exits with the outcome', () => {
  const watch = async (tag: string, ids: string[], extra: string[] = []) => {
    const idsFile = await file(`${tag}.txt`, ids.join('\n'));
    return fleet(createArgs(idsFile, '--max-attempts', '1', '--watch', '--poll-interval', '200', ...extra));
  };

  // A watch that polled would read the rollout once, running, and then sleep for ten minutes.
  it('follows the live event stream, not polling: a ten-minute poll interval still ends with the rollout', async () => {
    const run = await watch('stream', idsWithFate('stream', 12, 'ok'), [
      '--concurrency',
      '1',
      '--poll-interval',
      '600000',
    ]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/total=12 {2}succeeded=12 {2}failed=0/);
  }, 60_000);

  it('0 when every instance succeeded, with a recap of the counts', async () => {
    const run = await watch('allok', idsWithFate('allok', 5, 'ok'));
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain('completed');
    expect(run.stdout).toMatch(/total=5 {2}succeeded=5 {2}failed=0/);
  });

  it('1 when some failed, with each cause, its count and action, and the command to see the failures', async () => {
    const run = await watch('some', [...idsWithFate('some', 3, 'ok'), ...idsWithFate('some', 2, 'fail')]);
    expect(run.code, run.stderr).toBe(1);
    expect(run.stdout).toMatch(/total=5 {2}succeeded=3 {2}failed=2/);
    expect(run.stdout).toMatch(/failure causes:\n\s+2 {2}\S/);
    expect(run.stdout).toContain('action: ');
    expect(run.stdout).toMatch(/next: fleet rollout instances [0-9a-f-]{36} --state failed/);
  });

  it('2 when a wave gate pauses it, saying how to resume', async () => {
    const ids = [...idsWithFate('gate', 2, 'fail'), ...idsWithFate('gate', 4, 'ok')];
    const run = await watch('gate', ids, ['--waves', '2,4']);
    expect(run.code, run.stderr).toBe(2);
    expect(run.stdout).toContain('paused');
    expect(run.stdout).toMatch(/next: fleet rollout resume [0-9a-f-]{36}/);
  });

  it('5 when --timeout comes first; the rollout goes on', async () => {
    const run = await watch('slow', idsWithFate('slow', 60, 'ok'), ['--concurrency', '1', '--timeout', '1s']);
    expect(run.code, run.stderr).toBe(5);
    expect(run.stdout).toContain('--timeout reached (the rollout goes on)');
    const id = /RECAP rollout ([0-9a-f-]{36})/.exec(run.stdout)![1]!;
    expect((await fleet(['rollout', 'cancel', id])).code).toBe(0);
  });

  it('prints one JSON object a line with --output json, the recap last', async () => {
    const run = await watch('ndjson', idsWithFate('ndjson', 3, 'ok'), ['--output', 'json']);
    expect(run.code, run.stderr).toBe(0);
    const lines = run.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { type: string; outcome?: string });
    expect(lines.at(-1)).toMatchObject({ type: 'recap', outcome: 'completed' });
    expect(lines.some((l) => l.type === 'progress')).toBe(true);
  });
});

describe('fleet and the API refusing or missing', () => {
  it('4 with the problem title, detail, each field and the request id', async () => {
    const run = await fleet(['rollout', 'get', '00000000-0000-4000-8000-000000000000']);
    expect(run.code).toBe(4);
    expect(run.stderr).toMatch(/error: .+ \(404 not_found\)/);
    expect(run.stderr).toMatch(/request id \S+/);
    const ids = await file('field.txt', 'i-field1\n');
    const field = await fleet(createArgs(ids, '--concurrency', '20000'));
    expect(field.code).toBe(4);
    expect(field.stderr).toContain('(400 validation_failed)');
    expect(field.stderr).toMatch(/- concurrency: must be an integer from 1 to 10000/);
  });

  it('4 after retries when nothing listens, never showing the key', async () => {
    const run = await runFleet(['rollout', 'list'], {
      env: { FLEET_URL: `http://127.0.0.1:${await freePort()}`, FLEET_API_KEY: product.adminKey },
    });
    expect(run.code).toBe(4);
    expect(run.stderr).toContain('could not reach the API');
    expect(run.stderr).toContain('5 tries');
    expect(run.stderr + run.stdout).not.toContain(product.adminKey);
  });

  it('3 when there is no URL or key to use', async () => {
    const run = await runFleet(['rollout', 'list'], { env: { FLEET_CONFIG: path.join(dir, 'none.json') } });
    expect(run.code).toBe(3);
    expect(run.stderr).toContain('run fleet login --url <api>');
  });
});
