/**
 * `fleet rollout create`'s policy flags end to end, run as its bin against the real API, worker and simulator:
 * `--canary`/`--growth` and `--concurrency 10%` as the API plans them (a dry run), `--abort-at`/`--abort-min`
 * aborting a watched rollout (exit 2), and `--idempotency-key` making one rollout of two commands.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createArgs, idsWithFate, runFleet, startProduct } from './fleet-harness.ts';
import type { Product } from './fleet-harness.ts';

let product: Product;
let dir: string;

beforeAll(async () => {
  product = await startProduct('cli-policy');
  dir = await mkdtemp(path.join(tmpdir(), 'fleet-policy-'));
}, 90_000);

afterAll(async () => {
  await product?.stop();
  await rm(dir, { recursive: true, force: true });
});

const fleet = (args: string[]) => runFleet(args, { env: product.fleetEnv });

async function idsFile(name: string, ids: string[]): Promise<string> {
  const p = path.join(dir, name);
  await writeFile(p, `${ids.join('\n')}\n`);
  return p;
}

async function apiGet<T>(pathAndQuery: string): Promise<T> {
  const res = await fetch(`${product.apiUrl}${pathAndQuery}`, {
    headers: { authorization: `Bearer ${product.adminKey}` },
  });
  expect(res.status, pathAndQuery).toBe(200);
  return (await res.json()) as T;
}

const rolloutCount = async () => (await apiGet<{ items: unknown[] }>('/v1/rollouts?limit=200')).items.length;

describe('fleet rollout create --dry-run plans what the flags say', () => {
  it('--canary 1 --growth 2 doubles each wave after a canary of one, and --concurrency 10% is a tenth of the ids', async () => {
    const before = await rolloutCount();
    const file = await idsFile('canary.txt', idsWithFate('canary', 20, 'ok'));
    const json = await fleet(
      createArgs(file, '--dry-run', '--canary', '1', '--growth', '2', '--concurrency', '10%', '--output', 'json'),
    );
    expect(json.code, json.stderr).toBe(0);
    const plan = JSON.parse(json.stdout) as { waves: { wave: number; size: number }[] };
    // 1, then 2, 4, 8 and the 5 left: what planWaveSizes makes of { canary: 1, growthFactor: 2 } for 20.
    expect(plan.waves.map((w) => [w.wave, w.size])).toEqual([
      [1, 1],
      [2, 2],
      [3, 4],
      [4, 8],
      [5, 5],
    ]);
    expect(plan).toMatchObject({
      dryRun: true,
      instances: { accepted: 20 },
      limits: { concurrency: 2, concurrencySpec: '10%' },
    });
    const table = await fleet(createArgs(file, '--dry-run', '--canary', '1', '--growth', '3', '--concurrency', '10%'));
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).toMatch(/waves\s+4: 1, 3, 9, 7\n/);
    expect(table.stdout).toMatch(/concurrency\s+2 \(asked 10%\)\n/);
    expect(await rolloutCount()).toBe(before);
  });

  it('refuses --growth without --canary and --canary with --waves, sending nothing (exit 3)', async () => {
    const file = await idsFile('refused.txt', idsWithFate('refused', 2, 'ok'));
    const growth = await fleet(createArgs(file, '--dry-run', '--growth', '2'));
    expect(growth.code).toBe(3);
    expect(growth.stderr).toContain('--growth goes with --canary');
    const both = await fleet(createArgs(file, '--canary', '1', '--waves', '1,5'));
    expect(both.code).toBe(3);
    expect(both.stderr).toContain('--waves and --canary are two ways to plan waves: give one');
    const abortMin = await fleet(createArgs(file, '--abort-min', '2'));
    expect(abortMin.code).toBe(3);
    expect(abortMin.stderr).toContain('--abort-min goes with --abort-at');
  });
});

describe('fleet rollout create --abort-at', () => {
  it('2 when the failures cross --abort-at 20% once --abort-min 2 have finished, with "aborted" in the recap', async () => {
    // 12 of 20 fail: in whatever order one call at a time takes them, the share of failures reaches 20% while
    // at least ten are still pending (8 successes first, then 2 failures: 2 of 10).
    const file = await idsFile('abort.txt', [...idsWithFate('abort', 12, 'fail'), ...idsWithFate('abort', 8, 'ok')]);
    const run = await fleet(
      createArgs(
        file,
        '--concurrency',
        '1',
        '--max-attempts',
        '1',
        '--abort-at',
        '20%',
        '--abort-min',
        '2',
        '--watch',
        '--poll-interval',
        '200',
      ),
    );
    expect(run.code, run.stdout + run.stderr).toBe(2);
    const recap = /RECAP rollout ([0-9a-f-]{36}): aborted \(aborted: (\d+) of (\d+) finished instances failed/.exec(
      run.stdout,
    );
    expect(recap, run.stdout).not.toBeNull();
    const [, id, failed, finished] = recap!;
    expect(Number(finished)).toBeGreaterThanOrEqual(2);
    expect(Number(failed) / Number(finished)).toBeGreaterThanOrEqual(0.2);
    const rollout = await apiGet<{ status: string; counts: { cancelled: number }; policy: unknown }>(
      `/v1/rollouts/${id}`,
    );
    expect(rollout.status).toBe('cancelled');
    expect(rollout.counts.cancelled).toBeGreaterThan(0);
    expect(rollout.policy).toMatchObject({ abort: { failureThresholdPercent: 20, minFinished: 2 } });
  }, 60_000);
});

describe('fleet rollout create --idempotency-key', () => {
  it('makes one rollout of two commands with the same key, and refuses the key with other ids (exit 4)', async () => {
    const before = await rolloutCount();
    const file = await idsFile('idem.txt', idsWithFate('idem', 3, 'ok'));
    const key = `fleet-cli-test-${process.pid}-${Date.now()}`;
    const first = await fleet(createArgs(file, '--idempotency-key', key, '--concurrency', '1', '--output', 'json'));
    expect(first.code, first.stderr).toBe(0);
    const second = await fleet(createArgs(file, '--idempotency-key', key, '--concurrency', '1', '--output', 'json'));
    expect(second.code, second.stderr).toBe(0);
    const firstId = (JSON.parse(first.stdout) as { id: string }).id;
    expect((JSON.parse(second.stdout) as { id: string }).id).toBe(firstId);
    expect(await rolloutCount()).toBe(before + 1);
    const other = await idsFile('idem-other.txt', idsWithFate('idemother', 3, 'ok'));
    const reused = await fleet(createArgs(other, '--idempotency-key', key, '--concurrency', '1'));
    expect(reused.code).toBe(4);
    expect(reused.stderr).toContain('422 idempotency_key_reused');
    expect(await rolloutCount()).toBe(before + 1);
  });
});
