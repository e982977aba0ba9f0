import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { chmod, chown } from 'node:fs/promises';
import { tmpdir, userInfo } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { freePort } from './app-process.ts';
import { migrateDatabase } from './test-database.ts';

const run = promisify(execFile);

/**
 * A Postgres cluster of a test's own, made with the installed server binaries (`initdb`, `pg_ctl`) in a temporary
 * directory on a free port: for tests that stop or restart Postgres, which must never be the machine's shared one.
 * Trust authentication on 127.0.0.1 only, fsync off (its data is thrown away).
 */
export type PrivatePostgres = {
  /** Connection URL of its migrated database `fleet` (user postgres). */
  url: string;
  port: number;
  /** `pg_ctl stop -m fast`: connections are cut at once, as when Postgres restarts under load. */
  stop(): Promise<void>;
  /** `pg_ctl start`, waiting until it accepts connections. */
  start(): Promise<void>;
  /** Stops it for good and removes its data directory. */
  destroy(): Promise<void>;
};

/** The directory of the newest installed server binaries (Debian: /usr/lib/postgresql/<major>/bin), or PATH. */
function serverBinaries(): string {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return '';
  const majors = readdirSync(root)
    .filter((name) => existsSync(path.join(root, name, 'bin', 'pg_ctl')))
    .sort((a, b) => Number(b) - Number(a));
  return majors[0] ? path.join(root, majors[0], 'bin') : '';
}

export async function startPrivatePostgres(): Promise<PrivatePostgres> {
  const bin = serverBinaries();
  const dir = mkdtempSync(path.join(tmpdir(), 'fleet-pg-'));
  const data = path.join(dir, 'data');
  // initdb and postgres refuse to run as root: as root (CI containers), run them as the postgres user.
  const asRoot = userInfo().uid === 0;
  if (asRoot) {
    const { stdout: uid } = await run('id', ['-u', 'postgres']);
    const { stdout: gid } = await run('id', ['-g', 'postgres']);
    await chown(dir, Number(uid.trim()), Number(gid.trim()));
    await chmod(dir, 0o700);
  }
  const tool = (name: string, args: string[]) => {
    const command = bin ? path.join(bin, name) : name;
    return asRoot ? run('runuser', ['-u', 'postgres', '--', command, ...args]) : run(command, args);
  };
  const port = await freePort();
  await tool('initdb', ['-D', data, '-U', 'postgres', '--auth=trust', '--no-sync', '-E', 'UTF8']);
  const options = `-p ${port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='${dir}' -c fsync=off -c max_connections=200`;
  const logFile = path.join(dir, 'postgres.log');
  const start = async () => {
    await tool('pg_ctl', ['start', '-w', '-t', '60', '-D', data, '-l', logFile, '-o', options]);
  };
  const stop = async () => {
    await tool('pg_ctl', ['stop', '-w', '-m', 'fast', '-D', data]).catch((error: unknown) => {
      if (!/Is server running\?/.test(String(error))) throw error;
    });
  };
  await start();
  const admin = new pg.Client({ connectionString: `postgresql://postgres@127.0.0.1:${port}/postgres` });
  await admin.connect();
  try {
    await admin.query('CREATE DATABASE fleet');
  } finally {
    await admin.end();
  }
  const url = `postgresql://postgres@127.0.0.1:${port}/fleet`;
  await migrateDatabase(url);
  return {
    url,
    port,
    stop,
    start,
    async destroy() {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
