import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import pg from 'pg';

const run = promisify(execFile);

/** Admin connection used to create template and per-file databases. Override with TEST_DATABASE_ADMIN_URL. */
export function adminDatabaseUrl(): string {
  return process.env.TEST_DATABASE_ADMIN_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';
}

export function repoRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, 'prisma.config.ts'))) {
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error('repository root (prisma.config.ts) not found');
    dir = parent;
  }
  return dir;
}

function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

/** Template name derived from the migrations' contents: a changed migration gets a fresh template. */
function templateName(root: string): string {
  const dir = path.join(root, 'prisma', 'migrations');
  const hash = createHash('sha256');
  for (const name of readdirSync(dir).sort()) {
    const file = path.join(dir, name, 'migration.sql');
    if (existsSync(file)) hash.update(name).update(readFileSync(file));
  }
  return `fleet_tpl_${hash.digest('hex').slice(0, 12)}`;
}

async function withAdmin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: adminDatabaseUrl() });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** Applies every committed migration to the (existing, empty) database at `url` with `prisma migrate deploy`. */
export async function migrateDatabase(url: string): Promise<void> {
  await run('npx', ['prisma', 'migrate', 'deploy'], {
    cwd: repoRoot(),
    env: { ...process.env, DATABASE_URL: url, CHECKPOINT_DISABLE: '1' },
  });
}

/**
 * Makes sure a template database exists with every committed migration applied by `prisma migrate deploy`
 * (the same command the product runs at start). Called once per test run from vitest's globalSetup.
 */
export async function ensureMigratedTemplate(): Promise<string> {
  const root = repoRoot();
  const template = templateName(root);
  return withAdmin(async (admin) => {
    await admin.query('SELECT pg_advisory_lock(727001)');
    try {
      const exists = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [template]);
      if (exists.rowCount === 0) {
        await admin.query(`CREATE DATABASE "${template}_building"`).catch(async () => {
          await admin.query(`DROP DATABASE IF EXISTS "${template}_building" WITH (FORCE)`);
          await admin.query(`CREATE DATABASE "${template}_building"`);
        });
        await migrateDatabase(withDatabase(adminDatabaseUrl(), `${template}_building`));
        await admin.query(`ALTER DATABASE "${template}_building" RENAME TO "${template}"`);
      }
      return template;
    } finally {
      await admin.query('SELECT pg_advisory_unlock(727001)');
    }
  });
}

export type TestDatabase = { url: string; name: string; drop: () => Promise<void> };

/** A private, migrated database for one test file: a copy of the template, cheap to make and to drop. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const template = await ensureMigratedTemplate();
  const name = `fleet_t_${randomBytes(6).toString('hex')}`;
  await withAdmin(async (admin) => {
    for (let attempt = 1; ; attempt++) {
      try {
        await admin.query(`CREATE DATABASE "${name}" TEMPLATE "${template}"`);
        return;
      } catch (error) {
        // Two files cloning the template at the same instant: Postgres refuses the second while the first copies.
        if (attempt >= 20 || !/being accessed by other users/.test(String(error))) throw error;
        await new Promise((r) => setTimeout(r, 100 * attempt));
      }
    }
  });
  return {
    url: withDatabase(adminDatabaseUrl(), name),
    name,
    drop: () => withAdmin(async (admin) => void (await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`))),
  };
}
