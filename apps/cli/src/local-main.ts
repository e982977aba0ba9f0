/**
 * The local commands of `fleet` (main.ts hands them over; the client commands are in fleet/):
 *   up       check that Postgres and Redis answer, create and migrate the database, make sure the admin key file
 *            holds a working key and (without FLEET_ENCRYPTION_KEY) the encryption key file a key, then run
 *            simulator, api, worker, reconciler and notifier together and say where they are
 *   migrate  create the database if needed and apply the committed migrations
 *   check-migrations  exit 0 when the committed migrations produce exactly prisma/schema.prisma, 2 when not
 *            (replayed in a scratch database made and dropped for the check)
 *   create-api-key --name <name> --role viewer|operator|admin (--user-id <UserId> ... | --all-accounts)
 *            make an API key in the database and print it once (stdout: the key alone)
 *   rotate-encryption-key [--batch-size <rows>] [--output json]
 *            re-seal every stored secret under the apps' key: FLEET_ENCRYPTION_KEY, else the encryption key file `up`
 *            hands them (rotate-encryption-key.ts); 78 without either
 *
 * Exit codes: 0 done (or stopped by a signal), 1 failed, 2 bad usage or arguments, 69 (EX_UNAVAILABLE) Postgres or
 * Redis does not answer (`up`), 78 (EX_CONFIG) a malformed variable, or (`up`) an encryption key file that holds no key.
 *
 * Part of the app's entry point: it reads the environment (cliConfigSchema) when main.ts imports it, which it does
 * only for these commands, so that the client commands need no database settings.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createDatabase } from '@fleet/db';
import { EXIT_CODES, appLaunchArgs, loadConfigOrExit } from '@fleet/lifecycle';
import { chooseLogOutput, createLogger } from '@fleet/logger';
import { ensureAdminKeyFile } from './admin-key-file.ts';
import { currentEncryptionKey, ensureEncryptionKeyFile } from './encryption-key-file.ts';
import { loadCliConfig } from './config.ts';
import { CREATE_API_KEY_USAGE, createApiKeyCommand } from './create-api-key.ts';
import { checkMigrations, ensureDatabaseExists, migrateDatabase } from './database-setup.ts';
import { buildConsole, isConsoleBuildStale } from './console-build.ts';
import { checkDependencies, findStartTools, problemLine } from './dependency-check.ts';
import { readySummary, readySummaryLines } from './ready-summary.ts';
import { ROTATE_ENCRYPTION_KEY_USAGE, parseRotateArgs, rotateEncryptionKey } from './rotate-encryption-key.ts';
import { waitUntilReady } from './wait-until-ready.ts';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const config = loadConfigOrExit('fleet', () => loadCliConfig(process.env));
// Decided once here and handed to every app `up` starts, so that the one stream they share has one format.
const logOutput = chooseLogOutput({
  format: config.LOG_FORMAT,
  stdoutIsTTY: process.stdout.isTTY === true,
  noColor: config.NO_COLOR,
});
const logger = createLogger({ service: 'cli', level: config.LOG_LEVEL, ...logOutput });
const keyFile = config.FLEET_KEY_FILE
  ? path.resolve(config.FLEET_KEY_FILE)
  : path.join(repoRoot, '.fleet', 'admin-key');
const encryptionKeyFile = config.FLEET_ENCRYPTION_KEY_FILE
  ? path.resolve(config.FLEET_ENCRYPTION_KEY_FILE)
  : path.join(repoRoot, '.fleet', 'encryption-key');

async function migrate(): Promise<void> {
  if (await ensureDatabaseExists(config.DATABASE_URL)) logger.info('database created');
  await migrateDatabase(config.DATABASE_URL, repoRoot);
  logger.info('database migrated');
}

/** Writes a line for each of Postgres and Redis that does not answer and exits EX_UNAVAILABLE; nothing when both do. */
async function exitUnlessDependenciesAnswer(): Promise<void> {
  const problems = await checkDependencies({ databaseUrl: config.DATABASE_URL, redisUrl: config.REDIS_URL });
  if (problems.length === 0) return;
  const tools = await findStartTools();
  for (const problem of problems) process.stderr.write(`${problemLine(problem, tools)}\n`);
  process.exit(EXIT_CODES.unavailable);
}

/** Makes sure the admin key file holds a working key (see ensureAdminKeyFile); logs its path and prefix, never the key. */
async function prepareAdminKeyFile(): Promise<void> {
  const db = createDatabase({ url: config.DATABASE_URL, applicationName: 'fleet-cli', poolMax: 1 });
  try {
    const result = await ensureAdminKeyFile(db, keyFile);
    logger.info(result.outcome === 'created' ? 'admin api key made and written' : 'admin api key file reused', {
      keyFile: result.file,
      keyPrefix: result.keyPrefix,
    });
    if (result.narrowedMode)
      logger.warn('admin api key file was readable by others; its mode is now 0600', { keyFile });
  } finally {
    await db.close();
  }
}

/**
 * The environment `up` adds for its apps' FLEET_ENCRYPTION_KEY: nothing when the variable is set (it reaches them as
 * it is), else the key of the encryption key file (see ensureEncryptionKeyFile), so that a fresh clone can store
 * credentials and webhooks. Logs the file's path, never the key; exits EX_CONFIG when the file holds no key.
 */
async function prepareEncryptionKey(): Promise<Record<string, string>> {
  if (config.FLEET_ENCRYPTION_KEY !== undefined) return {};
  const result = await ensureEncryptionKeyFile(encryptionKeyFile);
  if (result.outcome === 'unusable') {
    process.stderr.write(
      `fleet up: ${result.file} holds no encryption key: ${result.message}. ` +
        'Put the key back, set FLEET_ENCRYPTION_KEY, or remove the file to make a new key ' +
        '(what the old key sealed will then not open)\n',
    );
    process.exit(EXIT_CODES.config);
  }
  logger.info(result.outcome === 'created' ? 'encryption key made and written' : 'encryption key file reused', {
    encryptionKeyFile: result.file,
  });
  if (result.narrowedMode)
    logger.warn('encryption key file was readable by others; its mode is now 0600', { encryptionKeyFile });
  return { FLEET_ENCRYPTION_KEY: result.key };
}

/** Once the apps answer, says where they are: a block of lines on a terminal, one log entry in JSON. */
async function announceWhenReady(signal: AbortSignal): Promise<void> {
  const api = config.FLEET_APPS.includes('api') ? { host: config.HOST, port: config.PORT } : undefined;
  const simulator = config.FLEET_APPS.includes('simulator')
    ? { host: config.SIMULATOR_HOST, port: config.SIMULATOR_PORT }
    : undefined;
  const summary = readySummary({
    ...(api ? { api } : {}),
    ...(simulator ? { simulator } : {}),
    keyFile,
    cwd: process.cwd(),
  });
  const waits = [
    ...(summary.apiUrl ? [{ app: 'api', url: `${summary.apiUrl}/readyz` }] : []),
    ...(summary.simulatorUrl ? [{ app: 'simulator', url: `${summary.simulatorUrl}_sim/stats` }] : []),
  ];
  const results = await Promise.all(
    waits.map(async (w) => ({
      ...w,
      result: await waitUntilReady(w.url, { deadlineMs: config.FLEET_READY_TIMEOUT_MS, signal }),
    })),
  );
  if (signal.aborted) return;
  const late = results.filter((r) => !r.result.ready);
  for (const r of late)
    logger.error(`${r.app} did not become ready within ${config.FLEET_READY_TIMEOUT_MS} ms; its lines above say why`, {
      app: r.app,
      url: r.url,
      last: r.result.ready ? undefined : r.result.last,
    });
  if (late.length > 0) return;
  if (logOutput.format === 'pretty') process.stdout.write(`${readySummaryLines(summary).join('\n')}\n`);
  else logger.info('fleet is ready', { ...summary });
}

/** Builds the web console the API serves at `/` when its build is missing or older than its sources. */
async function prepareConsole(): Promise<void> {
  if (!config.FLEET_APPS.includes('api') || !isConsoleBuildStale(repoRoot)) return;
  logger.info('building the web console');
  const failure = await buildConsole(repoRoot);
  // The API works without it (the console's paths answer 503 console_not_built): say why and go on.
  if (failure !== null) logger.error('the web console did not build; the API runs without it', { output: failure });
}

async function up(): Promise<void> {
  await exitUnlessDependenciesAnswer();
  await migrate();
  await prepareAdminKeyFile();
  const encryptionEnv = await prepareEncryptionKey();
  await prepareConsole();
  const children = new Map<string, ChildProcess>();
  const stopped = new AbortController();
  // Exit code of the first app that ended on its own (not stopped by us): `up` ends with it, 1 if it was 0.
  let failure: number | undefined;
  let stopping = false;
  let firstSignalAt = 0;
  const stopAll = (signal: NodeJS.Signals) => {
    if (stopping) {
      // One Ctrl-C reaches this process more than once (from the terminal and relayed by npm / tsx): only a signal
      // well after the first is a second request, which kills the apps.
      if (Date.now() - firstSignalAt < 1000) return;
      for (const child of children.values()) child.kill('SIGKILL');
      return;
    }
    stopping = true;
    firstSignalAt = Date.now();
    stopped.abort();
    logger.info('stopping all apps', { signal });
    // The API stops first so no rollout arrives while the others drain; the simulator last.
    for (const child of children.values()) child.kill(signal);
  };
  for (const app of config.FLEET_APPS) {
    const child = spawn(process.execPath, appLaunchArgs(app, repoRoot), {
      cwd: path.join(repoRoot, 'apps', app),
      env: { ...process.env, ...encryptionEnv, LOG_FORMAT: logOutput.format },
      stdio: ['ignore', 'inherit', 'inherit'],
      // A process group of its own, so the app hears a Ctrl-C once, from `up`. In the terminal's foreground group it
      // heard it twice, from the terminal and relayed by `up`; when the second came while the app's process was
      // already ending, its signal handlers gone, the default action killed it: the simulator ended by SIGINT in
      // about one Ctrl-C in five (a second SIGINT 30 ms after the first killed it 6 times in 8), and `up` with 1.
      detached: true,
    });
    children.set(app, child);
    child.on('exit', (code, signal) => {
      children.delete(app);
      logger.log(stopping ? 'info' : 'error', 'app exited', { app, code, signal });
      if (!stopping) {
        failure = code || 1;
        stopAll('SIGTERM');
      } else if (code !== 0) failure ??= 1;
      if (children.size === 0) process.exit(failure ?? 0);
    });
  }
  process.on('SIGINT', () => stopAll('SIGINT'));
  process.on('SIGTERM', () => stopAll('SIGTERM'));
  // Outside the terminal's group the apps no longer hear its hangup, nor outlive `up` unseen: a closed terminal stops
  // them as SIGTERM does, and should `up` end any other way (a failure), it tells those still running to stop.
  process.on('SIGHUP', () => stopAll('SIGTERM'));
  process.on('exit', () => {
    for (const child of children.values()) child.kill('SIGTERM');
  });
  await announceWhenReady(stopped.signal);
}

/** `rotate-encryption-key`: quiet on success, what it did with `--output json`; exit codes in rotate-encryption-key.ts. */
async function rotateKeyCommand(args: readonly string[]): Promise<void> {
  let options;
  try {
    options = parseRotateArgs(args);
  } catch (error) {
    process.stderr.write(`rotate-encryption-key: ${(error as Error).message}\n${ROTATE_ENCRYPTION_KEY_USAGE}\n`);
    process.exit(2);
  }
  // The key the apps have: the variable, else the file `fleet up` hands them (never a new one made here).
  const current = await currentEncryptionKey(config.FLEET_ENCRYPTION_KEY, encryptionKeyFile);
  if (current.outcome === 'unusable') {
    process.stderr.write(`rotate-encryption-key: ${current.file} holds no encryption key: ${current.message}\n`);
    process.exit(EXIT_CODES.config);
  }
  const result = await rotateEncryptionKey(
    config.DATABASE_URL,
    {
      FLEET_ENCRYPTION_KEY: current.outcome === 'found' ? current.key : undefined,
      FLEET_ENCRYPTION_PREVIOUS_KEYS: config.FLEET_ENCRYPTION_PREVIOUS_KEYS,
    },
    options,
  );
  if (result.kind === 'no_key') {
    process.stderr.write(
      `rotate-encryption-key: FLEET_ENCRYPTION_KEY is not set and ${encryptionKeyFile} (FLEET_ENCRYPTION_KEY_FILE) ` +
        'holds no key: there is no key to seal under\n',
    );
    process.exit(EXIT_CODES.config);
  }
  if (result.kind === 'unreadable') {
    process.stderr.write(
      `rotate-encryption-key: ${result.message}; put the key that sealed it in FLEET_ENCRYPTION_PREVIOUS_KEYS and run again\n`,
    );
    process.exit(1);
  }
  if (options.json) process.stdout.write(`${JSON.stringify({ keyId: result.keyId, columns: result.columns })}\n`);
}

/** Runs `up`, `migrate`, `check-migrations`, `create-api-key` or `rotate-encryption-key` (arguments from process.argv). */
export async function runLocalCommand(command: string): Promise<void> {
  try {
    if (command === 'up') await up();
    else if (command === 'migrate') await migrate();
    else if (command === 'check-migrations') process.exit(await checkMigrations(config.DATABASE_URL, repoRoot));
    else if (command === 'rotate-encryption-key') await rotateKeyCommand(process.argv.slice(3));
    else if (command === 'create-api-key') {
      let created;
      try {
        created = await createApiKeyCommand(config.DATABASE_URL, process.argv.slice(3));
      } catch (error) {
        process.stderr.write(`create-api-key: ${error instanceof Error ? error.message : String(error)}\n`);
        process.exit(2);
      }
      process.stdout.write(`${created.key}\n`);
      const scope = created.allAccounts ? 'every account' : `accounts ${created.userIds.join(', ')}`;
      process.stderr.write(
        `made API key ${created.id} (${created.keyPrefix}...), role ${created.role}, ${scope}.\n` +
          'It is shown this once: store it now. Use it as "Authorization: Bearer <key>".\n',
      );
    } else {
      process.stderr.write(
        `usage: fleet up | migrate | check-migrations | create-api-key | rotate-encryption-key\n${CREATE_API_KEY_USAGE}\n`,
      );
      process.exit(2);
    }
  } catch (error) {
    logger.error('command failed', { command, error });
    process.exit(1);
  }
}
