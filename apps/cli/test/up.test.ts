/**
 * `fleet up`, the real CLI main.ts, with a private database, Redis prefix, ports and key files: it says where things
 * are once the API is ready, and leaves an admin key in a file of mode 0600 that the API accepts; a second `up`
 * reuses it, and one after the key was revoked makes a new one. Without FLEET_ENCRYPTION_KEY it makes an encryption
 * key file the same way, which the API seals webhook secrets with; a set FLEET_ENCRYPTION_KEY wins over the file.
 */
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { parseEncryptionKey } from '@fleet/secrets';
import {
  createTestDatabase,
  deleteKeysWithPrefix,
  localAppsEnv,
  spawnApp,
  uniquePrefix,
  waitFor,
  waitForHttpOk,
} from '@fleet/testing';
import type { AppProcess, TestDatabase } from '@fleet/testing';

let testDb: TestDatabase;
let dir: string;
let keyFile: string;
let encryptionKeyFile: string;
let apiUrl: string;
let simulatorUrl: string;
let env: Record<string, string>;
const prefix = uniquePrefix('cli-up');
const running: AppProcess[] = [];

beforeAll(async () => {
  testDb = await createTestDatabase();
  dir = await mkdtemp(path.join(tmpdir(), 'fleet-up-'));
  keyFile = path.join(dir, 'state', 'admin-key');
  encryptionKeyFile = path.join(dir, 'state', 'encryption-key');
  const local = await localAppsEnv({ databaseUrl: testDb.url, prefix });
  ({ apiUrl, simulatorUrl } = local);
  env = {
    ...local.env,
    FLEET_APPS: 'simulator,api',
    FLEET_KEY_FILE: keyFile,
    FLEET_ENCRYPTION_KEY_FILE: encryptionKeyFile,
    // Empty counts as unset: none of this machine's environment reaches the test's `up`.
    FLEET_ENCRYPTION_KEY: '',
    // The webhooks made here point at 127.0.0.1 (nothing delivers them: no notifier runs).
    WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true',
  };
});

afterAll(async () => {
  await Promise.all(running.map((p) => p.kill()));
  await deleteKeysWithPrefix(prefix);
  await testDb.drop();
  await rm(dir, { recursive: true, force: true });
});

/** Starts `fleet up` with `extra` on top of the test's env. */
function startUp(extra: Record<string, string> = {}): AppProcess {
  const cli = spawnApp('cli', { ...env, ...extra }, { args: ['up'] });
  running.push(cli);
  return cli;
}

/** SIGTERM to `fleet up`, which stops its apps; expects exit code 0, showing the end of its output if not. */
async function stopUp(cli: AppProcess): Promise<void> {
  const code = await cli.stop('SIGTERM');
  expect(code, cli.output().slice(-3000)).toBe(0);
}

/**
 * The JSON entries among the complete lines `up` and its apps wrote so far: the text after the last newline may be a
 * line still being written (the API logs each /readyz poll). A line that does not parse is left out: the apps share
 * one pipe, and a line longer than PIPE_BUF (4096 bytes) may reach it in pieces between another app's lines.
 */
function jsonEntries(stdout: string): Record<string, unknown>[] {
  return stdout
    .split('\n')
    .slice(0, -1)
    .flatMap((line) => {
      try {
        return [JSON.parse(line) as Record<string, unknown>];
      } catch {
        return [];
      }
    });
}

async function callApi(key: string, route: string): Promise<number> {
  return (await fetch(`${apiUrl}${route}`, { headers: { authorization: `Bearer ${key}` } })).status;
}

/** POST /v1/webhooks for every account; its status and the id of the webhook made. */
async function createWebhook(key: string): Promise<{ status: number; id?: string }> {
  const response = await fetch(`${apiUrl}/v1/webhooks`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ url: 'http://127.0.0.1:9/fleet-up-hook', events: ['*'], allAccounts: true }),
  });
  const body = (await response.json()) as { id?: string };
  return { status: response.status, id: body.id };
}

/** The id of the key the webhook's signing secret is sealed with (`fsv1.<keyId>...`). */
async function sealingKeyOf(webhookId: string): Promise<string | undefined> {
  const client = new pg.Client({ connectionString: testDb.url });
  await client.connect();
  try {
    const { rows } = await client.query<{ sealed: string }>(
      'SELECT secret_sealed AS sealed FROM webhook WHERE id = $1',
      [webhookId],
    );
    return rows[0]?.sealed.split('.')[1];
  } finally {
    await client.end();
  }
}

// Each test migrates a database and starts real processes: on a loaded 2-core machine that alone can take a minute.
describe('fleet up', { timeout: 180_000 }, () => {
  let firstKey: string;
  let encryptionKey: string;

  it('on a terminal format (LOG_FORMAT=pretty) prints where the API, its docs, the simulator and the key file are, and the key works', async () => {
    const cli = startUp({ LOG_FORMAT: 'pretty' });
    await waitFor('the ready summary', () => cli.stdout().includes('Stop with Ctrl-C.'), { timeoutMs: 120_000 });
    const out = cli.stdout();
    expect(out).toContain('fleet is up.');
    expect(out).toContain(`API        ${apiUrl}\n`);
    expect(out).toContain(`API docs   ${apiUrl}/docs   (OpenAPI document: ${apiUrl}/openapi.json)`);
    expect(out).toContain(`Console    ${apiUrl}/   (sign in with the admin key)`);
    expect(out).toContain(`Simulator  ${simulatorUrl}\n`);
    // The web console, built by `up` when its build was missing or older than its sources, served at `/`.
    const consolePage = await fetch(`${apiUrl}/`);
    expect(consolePage.status).toBe(200);
    expect(consolePage.headers.get('content-security-policy')).toContain("script-src 'self'");
    const html = await consolePage.text();
    expect(html).toContain('<div id="root"></div>');
    expect(html).toMatch(/<script type="module"[^>]* src="\/assets\/[^"]+\.js"/);
    expect(out).toContain(`Admin key  in ${keyFile} (readable by you alone)`);
    expect(out).toContain(`KEY=$(cat ${keyFile})`);
    // The apps got `up`'s choice of format: their lines are pretty too.
    expect(out).toMatch(/^\d\d:\d\d:\d\d\.\d{3} api +info +api listening port=\d+ host=127\.0\.0\.1$/m);
    expect(out).toMatch(/^\d\d:\d\d:\d\d\.\d{3} simulator +info +simulator ready /m);
    expect(out).not.toMatch(/^\{/m);

    firstKey = (await readFile(keyFile, 'utf8')).trim();
    expect(firstKey).toMatch(/^flt_[A-Za-z0-9_-]{43}$/);
    expect(cli.output()).not.toContain(firstKey);
    expect((await stat(keyFile)).mode & 0o777).toBe(0o600);
    expect((await stat(path.dirname(keyFile))).mode & 0o777).toBe(0o700);
    // An admin key for every account: it may list the keys, which only an admin may.
    expect(await callApi(firstKey, '/v1/api-keys')).toBe(200);
    expect((await fetch(`${apiUrl}/openapi.json`)).status).toBe(200);

    // No FLEET_ENCRYPTION_KEY: `up` made one in its file, and the API seals with it, so webhooks work.
    encryptionKey = (await readFile(encryptionKeyFile, 'utf8')).trim();
    expect(encryptionKey).toMatch(/^[A-Za-z0-9+/]{43}=$/);
    expect(Buffer.from(encryptionKey, 'base64')).toHaveLength(32);
    expect((await stat(encryptionKeyFile)).mode & 0o777).toBe(0o600);
    expect(cli.output()).not.toContain(encryptionKey);
    const webhook = await createWebhook(firstKey);
    expect(webhook.status).toBe(201);
    expect(await sealingKeyOf(String(webhook.id))).toBe(parseEncryptionKey(encryptionKey).id);
    await stopUp(cli);
  });

  it('with stdout not a terminal writes JSON lines, its own and its apps, and a second up reuses the valid key', async () => {
    const cli = startUp();
    const ready = await waitFor(
      'the ready line',
      () => jsonEntries(cli.stdout()).find((entry) => entry.message === 'fleet is ready'),
      { timeoutMs: 120_000 },
    );
    expect(ready).toMatchObject({
      service: 'cli',
      apiUrl,
      docsUrl: `${apiUrl}/docs`,
      openapiUrl: `${apiUrl}/openapi.json`,
      simulatorUrl,
      keyFile,
      useKey: `KEY=$(cat ${keyFile})`,
    });
    expect(new Set(jsonEntries(cli.stdout()).map((entry) => entry.service))).toEqual(
      new Set(['cli', 'api', 'simulator']),
    );
    expect(cli.stdout()).not.toMatch(/^\d\d:\d\d:\d\d\.\d{3} /m);
    expect(cli.stdout()).toContain('"message":"admin api key file reused"');
    expect((await readFile(keyFile, 'utf8')).trim()).toBe(firstKey);
    expect(await callApi(firstKey, '/v1/api-keys')).toBe(200);
    // The same encryption key: what the first `up` sealed still opens, and new secrets are sealed with it.
    expect(cli.stdout()).toContain('"message":"encryption key file reused"');
    expect((await readFile(encryptionKeyFile, 'utf8')).trim()).toBe(encryptionKey);
    const webhook = await createWebhook(firstKey);
    expect(webhook.status).toBe(201);
    expect(await sealingKeyOf(String(webhook.id))).toBe(parseEncryptionKey(encryptionKey).id);
    await stopUp(cli);
  });

  it('makes a new key when the one in the file was revoked, and says so when the API is not ready in time', async () => {
    const client = new pg.Client({ connectionString: testDb.url });
    await client.connect();
    await client.query('UPDATE api_key SET revoked_at = now() WHERE revoked_at IS NULL');
    await client.end();
    // 1 ms: no API answers /readyz that soon after it was started.
    const cli = startUp({ FLEET_APPS: 'api', FLEET_READY_TIMEOUT_MS: '1', LOG_FORMAT: 'json' });
    const late = await waitFor(
      'the not-ready line',
      () => jsonEntries(cli.stdout()).find((entry) => String(entry.message).includes('did not become ready')),
      { timeoutMs: 120_000 },
    );
    expect(late).toMatchObject({ level: 'error', app: 'api', url: `${apiUrl}/readyz` });
    expect(cli.stdout()).not.toContain('fleet is ready');

    const secondKey = (await readFile(keyFile, 'utf8')).trim();
    expect(secondKey).not.toBe(firstKey);
    expect(cli.stdout()).toContain('"message":"admin api key made and written"');
    await waitForHttpOk('the API', `${apiUrl}/readyz`, { timeoutMs: 60_000 });
    expect(await callApi(secondKey, '/v1/api-keys')).toBe(200);
    expect(await callApi(firstKey, '/v1/api-keys')).toBe(401);
    expect((await stat(keyFile)).mode & 0o777).toBe(0o600);
    await stopUp(cli);
  });

  it('a set FLEET_ENCRYPTION_KEY wins: the apps seal with it, and the key file is neither read nor changed', async () => {
    const ownKey = Buffer.alloc(32, 3).toString('base64');
    const cli = startUp({ FLEET_APPS: 'api', FLEET_ENCRYPTION_KEY: ownKey, LOG_FORMAT: 'json' });
    await waitFor('the ready line', () => cli.stdout().includes('"message":"fleet is ready"'), { timeoutMs: 120_000 });
    expect(cli.stdout()).not.toContain('encryption key file');
    expect(cli.stdout()).not.toContain('encryption key made');
    expect((await readFile(encryptionKeyFile, 'utf8')).trim()).toBe(encryptionKey);
    const webhook = await createWebhook((await readFile(keyFile, 'utf8')).trim());
    expect(webhook.status).toBe(201);
    expect(await sealingKeyOf(String(webhook.id))).toBe(parseEncryptionKey(ownKey).id);
    await stopUp(cli);
  });

  it('stops the other apps and exits with the code of an app that ended by itself (a worker with a bad variable: 78)', async () => {
    const cli = startUp({ FLEET_APPS: 'simulator,worker', WORKER_CONCURRENCY: 'abc', LOG_FORMAT: 'json' });
    expect(await cli.exited).toBe(78);
    expect(cli.stderr()).toContain(
      'worker: configuration error: WORKER_CONCURRENCY="abc": expected an integer from 1 up',
    );
    expect(cli.stdout()).toMatch(/"app":"simulator","code":0/);
  });

  /**
   * Starts `up` as a shell starts `npm start`, the leader of a process group (every process left in it hears what
   * the terminal sends), waits until it is ready and sends `signal` to the whole group. `up` must exit 0, and each
   * app must have been told to stop once, by `up` (with `relayed`), and have stopped.
   */
  async function signalGroup(signal: NodeJS.Signals, relayed: NodeJS.Signals): Promise<void> {
    const cli = spawnApp('cli', { ...env, LOG_FORMAT: 'json' }, { args: ['up'], processGroup: true });
    running.push(cli);
    await waitFor('the ready line', () => cli.stdout().includes('"message":"fleet is ready"'), { timeoutMs: 120_000 });
    process.kill(-cli.pid, signal);
    expect(await cli.closed, cli.output().slice(-3000)).toBe(0);
    const entries = jsonEntries(cli.stdout());
    const heardTwice = ['signal repeated while stopping, taken as the same request', 'second signal, exiting now'];
    expect(entries.filter((e) => heardTwice.includes(String(e.message))).map((e) => e.service)).toEqual([]);
    for (const app of ['simulator', 'api']) {
      expect(
        entries.filter((e) => e.service === app && String(e.message).startsWith('stopping ')),
        app,
      ).toEqual([expect.objectContaining({ message: `stopping ${app}`, signal: relayed })]);
      expect(
        entries.some((e) => e.service === app && e.message === `${app} stopped`),
        app,
      ).toBe(true);
    }
  }

  it("stops every app once on a Ctrl-C (SIGINT to the terminal's foreground group): none hears it twice, up exits 0", async () => {
    await signalGroup('SIGINT', 'SIGINT');
  });

  it('stops every app as SIGTERM does when the terminal hangs up (SIGHUP to its group), and exits 0', async () => {
    await signalGroup('SIGHUP', 'SIGTERM');
  });
});
