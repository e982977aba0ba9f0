/**
 * `fleet up` on a machine where Postgres or Redis does not answer: the real CLI main.ts, pointed at a closed port.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { adminDatabaseUrl, freePort, spawnApp, testRedisUrl } from '@fleet/testing';

const PASSWORD = 'hunter2-not-shown';
let closedPort: number;
/** A database that does not exist: `up` would create it if it went as far as migrating. */
const untouched = `fleet_up_deps_${process.pid}_${Date.now()}`;
const untouchedUrl = (() => {
  const url = new URL(adminDatabaseUrl());
  url.pathname = `/${untouched}`;
  return url.toString();
})();

async function databaseExists(name: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: adminDatabaseUrl() });
  await client.connect();
  try {
    return ((await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name])).rowCount ?? 0) > 0;
  } finally {
    await client.end();
  }
}

beforeAll(async () => {
  closedPort = await freePort();
});

afterAll(async () => {
  const client = new pg.Client({ connectionString: adminDatabaseUrl() });
  await client.connect();
  await client.query(`DROP DATABASE IF EXISTS "${untouched}" WITH (FORCE)`);
  await client.end();
});

/** Runs `fleet up` with `env`; resolves with its exit code and the lines it wrote on stderr. */
async function up(env: Record<string, string>) {
  const cli = spawnApp('cli', { FLEET_APPS: 'api', ...env }, { args: ['up'] });
  const code = await cli.closed;
  return { code, stderr: cli.stderr(), lines: cli.stderr().split('\n').filter(Boolean), output: cli.output() };
}

describe('fleet up when a dependency does not answer', () => {
  it('names Postgres, where it looked (no password) and the command that starts it, exits 69, and changes nothing', async () => {
    const { code, lines, output } = await up({
      DATABASE_URL: `postgresql://postgres:${PASSWORD}@127.0.0.1:${closedPort}/fleet`,
      REDIS_URL: testRedisUrl(),
    });
    expect(code).toBe(69);
    expect(lines).toHaveLength(1);
    const [line] = lines;
    expect(line).toMatch(
      new RegExp(
        `^fleet up: Postgres does not answer at 127\\.0\\.0\\.1:${closedPort} \\(DATABASE_URL\\): .*ECONNREFUSED.*; `,
      ),
    );
    expect(line).toMatch(/; start it with: (docker compose up -d postgres redis|(sudo )?pg_ctlcluster \S+ \S+ start)$/);
    expect(output).not.toContain(PASSWORD);
    expect(output).not.toMatch(/^\s+at /m);
  });

  it('names Redis when Postgres answers, before creating or migrating the database', async () => {
    const { code, lines, output } = await up({
      DATABASE_URL: untouchedUrl,
      REDIS_URL: `redis://:${PASSWORD}@127.0.0.1:${closedPort}/0`,
    });
    expect(code).toBe(69);
    expect(lines).toHaveLength(1);
    const [line] = lines;
    expect(line).toMatch(
      new RegExp(
        `^fleet up: Redis does not answer at 127\\.0\\.0\\.1:${closedPort} \\(REDIS_URL\\): .*ECONNREFUSED.*; `,
      ),
    );
    const redisServer = `redis-server --daemonize yes --port ${closedPort} --maxmemory-policy noeviction`;
    expect(
      line!.endsWith('; start it with: docker compose up -d postgres redis') ||
        line!.endsWith(`; start it with: ${redisServer}`),
    ).toBe(true);
    expect(output).not.toContain(PASSWORD);
    expect(await databaseExists(untouched)).toBe(false);
  });

  it('names both, one line each, when neither answers', async () => {
    const { code, lines } = await up({
      DATABASE_URL: `postgresql://postgres@127.0.0.1:${closedPort}/fleet`,
      REDIS_URL: `redis://127.0.0.1:${closedPort}`,
    });
    expect(code).toBe(69);
    expect(lines.map((l) => l.split(' does not answer')[0])).toEqual(['fleet up: Postgres', 'fleet up: Redis']);
  });
});
