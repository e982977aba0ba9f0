import { execFile } from 'node:child_process';
import { access, constants } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import pg from 'pg';

const run = promisify(execFile);

/** The services `fleet up` needs before it migrates and starts the apps. */
export type Dependency = 'postgres' | 'redis';

/**
 * How a dependency failed to answer. `unreachable`: nothing answered at that address (refused, timed out, no such
 * host), so it is not running or not reachable from here. `refused`: it answered but would not take us (a password,
 * a pg_hba.conf rule, a Redis AUTH), which starting it again would not fix.
 */
export type DependencyProblem = {
  dependency: Dependency;
  kind: 'unreachable' | 'refused';
  /** `host:port` from the URL, never its user or password. */
  where: string;
  /** The variable the URL came from. */
  variable: 'DATABASE_URL' | 'REDIS_URL';
  /** What the driver said (its message names no password: it never sees one it would print). */
  detail: string;
};

/** Longest a probe waits for an answer, in ms. */
const PROBE_TIMEOUT_MS = 3000;

const UNREACHABLE_CODES = new Set([
  'ECONNREFUSED',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ECONNRESET',
]);

/** `host:port` of a postgresql:// or redis:// URL, the default port filled in; no credentials. */
export function whereOf(url: string, dependency: Dependency): string {
  const parsed = new URL(url);
  // postgresql:///fleet?host=/var/run/postgresql: a Unix socket named in the query.
  const host = parsed.hostname || parsed.searchParams.get('host') || 'localhost';
  const port = parsed.port || (dependency === 'postgres' ? '5432' : '6379');
  return `${host}:${port}`;
}

function isUnreachable(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && UNREACHABLE_CODES.has(code)) return true;
  // pg's own connect timeout and a socket closed before the greeting carry no code.
  return /timeout|timed out|Connection terminated|ECONNREFUSED|connect ETIMEDOUT/i.test(String(error));
}

function messageOf(error: unknown): string {
  const aggregate = error as { errors?: unknown[] };
  // Node's happy-eyeballs connect (localhost: ::1 and 127.0.0.1) fails with an AggregateError of empty message.
  if (error instanceof Error && !error.message && Array.isArray(aggregate.errors) && aggregate.errors.length > 0)
    return aggregate.errors.map(messageOf).join('; ');
  return error instanceof Error ? error.message : String(error);
}

/** Connects to the server of `databaseUrl` (its `postgres` database, as creating the product's database does). */
async function probePostgres(databaseUrl: string): Promise<DependencyProblem | null> {
  const admin = new URL(databaseUrl);
  admin.pathname = '/postgres';
  const client = new pg.Client({ connectionString: admin.toString(), connectionTimeoutMillis: PROBE_TIMEOUT_MS });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query('SELECT 1');
    return null;
  } catch (error) {
    return {
      dependency: 'postgres',
      kind: isUnreachable(error) ? 'unreachable' : 'refused',
      where: whereOf(databaseUrl, 'postgres'),
      variable: 'DATABASE_URL',
      detail: messageOf(error),
    };
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * PINGs Redis once. A connection of its own rather than one of @fleet/queue's roles: those reconnect forever, a
 * probe must give one answer and go.
 */
async function probeRedis(redisUrl: string): Promise<DependencyProblem | null> {
  const redis = new Redis(redisUrl, {
    lazyConnect: true,
    connectTimeout: PROBE_TIMEOUT_MS,
    commandTimeout: PROBE_TIMEOUT_MS,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
    connectionName: 'fleet-up-probe',
  });
  let lastError: unknown;
  redis.on('error', (error: unknown) => (lastError = error));
  try {
    await redis.connect();
    await redis.ping();
    return null;
  } catch (error) {
    const cause = lastError ?? error;
    return {
      dependency: 'redis',
      kind: isUnreachable(cause) ? 'unreachable' : 'refused',
      where: whereOf(redisUrl, 'redis'),
      variable: 'REDIS_URL',
      detail: messageOf(cause),
    };
  } finally {
    redis.disconnect();
  }
}

/** Asks Postgres and Redis at once; resolves with what is wrong (empty: both answer). */
export async function checkDependencies(urls: { databaseUrl: string; redisUrl: string }): Promise<DependencyProblem[]> {
  const results = await Promise.all([probePostgres(urls.databaseUrl), probeRedis(urls.redisUrl)]);
  return results.filter((p): p is DependencyProblem => p !== null);
}

/** What this machine has to start a dependency with (see startCommand). */
export type StartTools = {
  /** Postgres clusters of the Debian packages (`pg_lsclusters`); null when those packages are not installed. */
  debianClusters: { version: string; cluster: string; port: string }[] | null;
  /** `redis-server` is on PATH. */
  redisServer: boolean;
  /** The process runs as root (no `sudo` in front of pg_ctlcluster). */
  root: boolean;
};

const LOCAL_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]', '::1']);

/**
 * The one command that brings a dependency up at `where` on this machine, or null when it lives elsewhere (only its
 * owner can start it). The Debian packages' own commands when they are installed (a cluster on that port, a
 * redis-server binary), else the repository's docker-compose.yml, which publishes both on their default ports.
 */
export function startCommand(
  problem: Pick<DependencyProblem, 'dependency' | 'where'>,
  tools: StartTools,
): string | null {
  const separator = problem.where.lastIndexOf(':');
  const host = problem.where.slice(0, separator);
  const port = problem.where.slice(separator + 1);
  if (!LOCAL_HOSTS.has(host) && !host.startsWith('/')) return null;
  const compose = 'docker compose up -d postgres redis';
  switch (problem.dependency) {
    case 'postgres': {
      const cluster = tools.debianClusters?.find((c) => c.port === port);
      if (!cluster) return compose;
      return `${tools.root ? '' : 'sudo '}pg_ctlcluster ${cluster.version} ${cluster.cluster} start`;
    }
    case 'redis':
      return tools.redisServer ? `redis-server --daemonize yes --port ${port} --maxmemory-policy noeviction` : compose;
  }
}

async function onPath(command: string): Promise<boolean> {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter).filter(Boolean)) {
    try {
      await access(path.join(dir, command), constants.X_OK);
      return true;
    } catch {
      /* not in this directory */
    }
  }
  return false;
}

/** Looks at this machine for the tools startCommand may name. */
export async function findStartTools(): Promise<StartTools> {
  let debianClusters: StartTools['debianClusters'] = null;
  try {
    const { stdout } = await run('pg_lsclusters', ['--no-header'], { timeout: 5000 });
    debianClusters = stdout
      .split('\n')
      .map((line) => line.trim().split(/\s+/))
      .filter((cells) => cells.length >= 3)
      .map(([version, cluster, port]) => ({ version: version!, cluster: cluster!, port: port! }));
  } catch {
    /* not the Debian packages */
  }
  return { debianClusters, redisServer: await onPath('redis-server'), root: process.getuid?.() === 0 };
}

const LABEL: Record<Dependency, string> = { postgres: 'Postgres', redis: 'Redis' };

/**
 * The line an operator reads for a problem, e.g. `fleet up: Postgres does not answer at 127.0.0.1:5432
 * (DATABASE_URL): connect ECONNREFUSED 127.0.0.1:5432; start it with: docker compose up -d postgres redis`.
 */
export function problemLine(problem: DependencyProblem, tools: StartTools): string {
  const label = LABEL[problem.dependency];
  const what = problem.kind === 'unreachable' ? 'does not answer' : 'answered but refused the connection';
  const head = `fleet up: ${label} ${what} at ${problem.where} (${problem.variable}): ${problem.detail}`;
  if (problem.kind === 'refused') return `${head}; check the user and password in ${problem.variable}`;
  const command = startCommand(problem, tools);
  return command ? `${head}; start it with: ${command}` : `${head}; is it running, and reachable from this machine?`;
}
