/**
 * `fleet rollout create --watch` on a real terminal: run under tmux (its own server on a private socket) against
 * the real API, worker and simulator, the screen read with capture-pane while it runs. The live block is redrawn in
 * place (one bar on the screen at any time and in the whole scrollback), it advances, events are printed above it,
 * the recap is right; Ctrl-C stops the watch and not the rollout. Colours: on a terminal only, never with NO_COLOR
 * (the pane read back with its escape sequences).
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '@fleet/testing';
import { FLEET_BIN, createArgs, idsWithFate, runFleet, startProduct } from './fleet-harness.ts';
import type { Product } from './fleet-harness.ts';

const exec = promisify(execFile);
const SOCKET = `fleet-cli-test-${process.pid}`;
let product: Product;
let dir: string;

const tmux = async (...args: string[]) => (await exec('tmux', ['-L', SOCKET, ...args], { env: tmuxEnv() })).stdout;

function tmuxEnv(): NodeJS.ProcessEnv {
  const base = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !k.startsWith('FLEET_') && k !== 'NO_COLOR' && k !== 'TMUX'),
  );
  return { ...base, ...product.fleetEnv, TERM: 'xterm-256color' };
}

/**
 * Starts `fleet <args>` in a new 100x30 tmux window of its own, `env` set for it alone; the shell stays to show its
 * exit code.
 */
async function startInTerminal(session: string, args: string[], env: Record<string, string> = {}): Promise<void> {
  const assignments = Object.entries(env).map(([name, value]) => `${name}='${value}' `);
  const command = [process.execPath, FLEET_BIN, ...args].map((a) => `'${a}'`).join(' ');
  await tmux(
    'new-session',
    '-d',
    '-s',
    session,
    '-x',
    '100',
    '-y',
    '30',
    `${assignments.join('')}${command}; echo "EXIT=$?"; sleep 120`,
  );
}

const screen = (session: string) => tmux('capture-pane', '-p', '-t', session);
/** Everything the pane ever showed: the scrollback and the screen. */
const history = (session: string) => tmux('capture-pane', '-p', '-S', '-', '-t', session);
const BAR = /\[[#-]{10,}\] (\d+)%/;

beforeAll(async () => {
  product = await startProduct('cli-tty');
  dir = await mkdtemp(path.join(tmpdir(), 'fleet-tty-'));
}, 90_000);

afterAll(async () => {
  await exec('tmux', ['-L', SOCKET, 'kill-server']).catch(() => {});
  await product?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('fleet rollout create --watch on a terminal', () => {
  it('redraws one block in place as the bar advances, prints events above it and ends with the recap', async () => {
    const ids = [...idsWithFate('tty', 116, 'ok'), ...idsWithFate('tty', 4, 'fail')];
    const file = path.join(dir, 'ids.txt');
    await writeFile(file, ids.join('\n'));
    await startInTerminal(
      'watch',
      createArgs(
        file,
        '--concurrency',
        '1',
        '--waves',
        '40',
        '--wave-threshold',
        '0',
        '--max-attempts',
        '1',
        '--watch',
        '--poll-interval',
        '200',
      ),
    );
    const percents: number[] = [];
    const screens: string[] = [];
    const crowded: string[] = [];
    await waitFor(
      'the watch to end',
      async () => {
        const text = await screen('watch');
        screens.push(text);
        const bars = text.split('\n').filter((l) => BAR.test(l));
        // One live block on the screen at any moment: never a second bar scrolled up above the first.
        if (bars.length > 1) crowded.push(text);
        if (bars[0]) percents.push(Number(BAR.exec(bars[0])![1]));
        return text.includes('EXIT=');
      },
      { timeoutMs: 90_000, intervalMs: 250 },
    );
    expect(crowded).toEqual([]);
    const final = screens.at(-1)!;
    expect(final).toContain('EXIT=1');
    // The bar advanced: it was seen short of 100% and then at 100%, never going back.
    expect(percents.some((p) => p < 100)).toBe(true);
    expect(percents.at(-1)).toBe(100);
    expect([...percents].sort((a, b) => a - b)).toEqual(percents);
    // Events above the block, in everything the pane showed (the recap may have scrolled the first ones off).
    const all = await history('watch');
    const lines = all.split('\n');
    const barRow = lines.findIndex((l) => BAR.test(l));
    const waveRows = lines.flatMap((l, i) => (/^\d\d:\d\d:\d\d wave [23]\/3 started$/.test(l.trim()) ? [i] : []));
    expect(waveRows, all).toHaveLength(2);
    expect(Math.max(...waveRows)).toBeLessThan(barRow);
    // The recap: counts and the cause with its action.
    expect(all).toMatch(/total=120 {2}succeeded=116 {2}failed=4/);
    expect(all).toMatch(/failure causes:\n\s+4 {2}\S/);
    expect(all).toMatch(/next: fleet rollout instances \S+ --state failed/);
    // Not flooded: in everything the pane ever showed there is one bar, the last one.
    expect(all.split('\n').filter((l) => BAR.test(l))).toHaveLength(1);
  }, 120_000);

  it('Ctrl-C stops watching, says the rollout goes on, and the rollout does', async () => {
    const file = path.join(dir, 'long.txt');
    await writeFile(file, idsWithFate('ctrlc', 3000, 'ok').join('\n'));
    await startInTerminal('ctrlc', createArgs(file, '--concurrency', '1', '--watch'));
    await waitFor('the live block', async () => BAR.test(await screen('ctrlc')), {
      timeoutMs: 60_000,
      intervalMs: 250,
    });
    await tmux('send-keys', '-t', 'ctrlc', 'C-c');
    await waitFor('the exit', async () => (await screen('ctrlc')).includes('EXIT='), {
      timeoutMs: 30_000,
      intervalMs: 250,
    });
    const text = await screen('ctrlc');
    expect(text).toContain('EXIT=130');
    const id = /stopped watching; rollout (\S+) goes on/.exec(text)?.[1];
    expect(id, text).toBeDefined();
    const res = await fetch(`${product.apiUrl}/v1/rollouts/${id}`, {
      headers: { authorization: `Bearer ${product.adminKey}` },
    });
    expect(((await res.json()) as { status: string }).status).toBe('running');
    await fetch(`${product.apiUrl}/v1/rollouts/${id}/pause`, {
      method: 'POST',
      headers: { authorization: `Bearer ${product.adminKey}`, 'content-type': 'application/json' },
      body: '{}',
    });
  }, 120_000);
});

describe('colours', () => {
  // An SGR sequence setting the foreground red (31), as tmux writes it back with capture-pane -e; and any escape.
  // eslint-disable-next-line no-control-regex -- the escape character is what these look for
  const RED = /\x1b\[(?:\d+;)*31m/;
  const ANY_ESCAPE = '\x1b[';
  const missing = ['rollout', 'get', '00000000-0000-4000-8000-000000000000'];

  it('are used on a terminal without NO_COLOR, never with NO_COLOR=1 and never into a pipe', async () => {
    await startInTerminal('colour', missing);
    await startInTerminal('nocolour', missing, { NO_COLOR: '1' });
    for (const session of ['colour', 'nocolour'])
      await waitFor(`the exit in ${session}`, async () => (await screen(session)).includes('EXIT='), {
        timeoutMs: 30_000,
        intervalMs: 250,
      });
    // -e: the pane with its text attributes as escape sequences.
    const painted = await tmux('capture-pane', '-p', '-e', '-t', 'colour');
    expect(painted).toContain('EXIT=4');
    expect(painted).toMatch(new RegExp(`${RED.source}error:`));
    const plain = await tmux('capture-pane', '-p', '-e', '-t', 'nocolour');
    expect(plain).toContain('EXIT=4');
    expect(plain).toContain('error: ');
    expect(plain).not.toContain(ANY_ESCAPE);
    // Not a terminal (stdout and stderr are pipes): no colour even without NO_COLOR.
    const piped = await runFleet(missing, { env: { ...product.fleetEnv, NO_COLOR: '' } });
    expect(piped.code).toBe(4);
    expect(piped.stderr).toContain('error: ');
    expect(piped.stderr + piped.stdout).not.toContain(ANY_ESCAPE);
  }, 60_000);
});
