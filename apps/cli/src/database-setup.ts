import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import pg from 'pg';

const run = promisify(execFile);

/** Creates the database named in `databaseUrl` when it does not exist yet (a fresh machine has none). */
export async function ensureDatabaseExists(databaseUrl: string): Promise<boolean> {
  const url = new URL(databaseUrl);
  const name = decodeURIComponent(url.pathname.replace(/^\//, ''));
  if (!/^[A-Za-z0-9_-]+$/.test(name)) throw new Error(`DATABASE_URL: unsupported database name "${name}"`);
  const admin = new URL(databaseUrl);
  admin.pathname = '/postgres';
  const client = new pg.Client({ connectionString: admin.toString() });
  await client.connect();
  try {
    const found = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (found.rowCount) return false;
    await client.query(`CREATE DATABASE "${name}"`);
    return true;
  } finally {
    await client.end();
  }
}

/** Brings the database up to date with the committed migrations (`prisma migrate deploy`). */
export async function migrateDatabase(databaseUrl: string, repoRoot: string): Promise<string> {
  const { stdout } = await run('npx', ['prisma', 'migrate', 'deploy'], {
    cwd: repoRoot,
    env: { ...process.env, DATABASE_URL: databaseUrl, CHECKPOINT_DISABLE: '1' },
  });
  return stdout;
}

/**
 * Checks that the committed migrations produce exactly prisma/schema.prisma (`prisma migrate diff --exit-code`).
 * The diff replays the migrations in a database, so it gets a scratch one of its own on the server of
 * `databaseUrl`, made for the check and dropped after it: the check needs no existing database and never touches
 * one. Resolves with the diff's exit code (0: no difference, 2: a difference, printed).
 */
export async function checkMigrations(databaseUrl: string, repoRoot: string): Promise<number> {
  const scratch = new URL(databaseUrl);
  scratch.pathname = `/fleet_migration_check_${randomBytes(6).toString('hex')}`;
  const admin = new URL(databaseUrl);
  admin.pathname = '/postgres';
  await ensureDatabaseExists(scratch.toString());
  try {
    return await new Promise<number>((resolve, reject) => {
      const child = spawn(
        'npx',
        [
          'prisma',
          'migrate',
          'diff',
          '--from-migrations',
          'prisma/migrations',
          '--to-schema-datamodel',
          'prisma/schema.prisma',
          '--exit-code',
        ],
        {
          cwd: repoRoot,
          env: { ...process.env, DATABASE_URL: scratch.toString(), CHECKPOINT_DISABLE: '1' },
          stdio: ['ignore', 'inherit', 'inherit'],
        },
      );
      child.on('error', reject);
      child.on('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
    });
  } finally {
    const client = new pg.Client({ connectionString: admin.toString() });
    await client.connect();
    try {
      await client.query(`DROP DATABASE IF EXISTS "${decodeURIComponent(scratch.pathname.slice(1))}" WITH (FORCE)`);
    } finally {
      await client.end();
    }
  }
}
