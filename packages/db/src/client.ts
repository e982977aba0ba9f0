import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import { PrismaClient } from './generated/prisma/client.ts';

/**
 * The connections of the system of record, each named: an app's main.ts (or a test) makes one with createDatabase and
 * passes it down; `close()` ends all of them.
 */
export type Database = {
  /** Everything but the install path's per-job statements goes through Prisma. */
  readonly prisma: PrismaClient;
  /**
   * The pg pool Prisma runs on (the same connections), for the few statements on the install path that run for
   * every job: a query through Prisma costs about 0.5 ms of CPU in the calling process before it reaches the driver
   * (measured on the 2-core reference machine: `SELECT 1` 0.6 ms through Prisma, 0.1 ms through pg), which at
   * thousands of jobs a second is most of a worker's CPU.
   */
  readonly pool: pg.Pool;
  /**
   * Connections of their own for the install path's batch statements (claims and answers of many jobs in one
   * statement, see attempts/), opened with INSTALL_PATH_SESSION so that their cached plans stay on the primary keys.
   */
  readonly installPath: pg.Pool;
  /** Ends Prisma and both pools. Idempotent: later calls wait for the first one. */
  close(): Promise<void>;
};

export type DatabaseOptions = {
  /** postgresql:// URL of the system of record. */
  url: string;
  /** Most pooled connections this process opens. Default 10. */
  poolMax?: number;
  /** How long to wait for a free or new connection before failing, in ms. Default 5000. */
  connectionTimeoutMs?: number;
  /** Called with errors of idle pooled connections (e.g. Postgres restarted), which must not crash the process. */
  onPoolError?: (error: Error) => void;
  /** Most connections for the install path's batch statements (Database.installPath), opened as they are needed. Default 4. */
  installPathPoolMax?: number;
  /**
   * Shown as `application_name` in pg_stat_activity (and in Postgres's logs with %a), so an operator can tell which
   * app holds which connection: the install path's connections show it with `:install-path` appended.
   */
  applicationName?: string;
  /**
   * How long close() waits for statements still running before it ends Prisma, in ms; connections still out after
   * it are closed. Default 2000.
   */
  closeGraceMs?: number;
};

/**
 * Planner settings of the install path's connections. Its batch statements are prepared once per connection and
 * executed with a generic plan that Postgres keeps for the connection's life (`force_generic_plan`: planning the
 * large statement on every run cost about a third of its CPU). A generic plan is made from the statistics of the
 * moment, often a fresh database's, and it estimates every batch at ten rows whatever its size, so the settings leave
 * it a single shape: no sequential scans and no nested loops (nor merge joins), hence each batch's input hashed and the
 * rows it names fetched by primary key. Measured before each was ruled out, with the install path's writes alone:
 * - a plan made while install_attempt was small hashed a sequential scan of the whole table for every batch of
 *   answers, so each batch cost more than the last (Postgres CPU per instance 0.5 ms over a run of 5,000, 0.7 ms
 *   over 20,000; 28 million rows read for 10,000 answers);
 * - with sequential scans ruled out, the answers still joined their input in a nested loop, every attempt row
 *   against every input row, building each input row as a composite value each time: a batch of 100 answers spent 9
 *   of its 12 ms there. Ruling nested loops out as well took Postgres CPU per instance from 176 to 67 microseconds
 *   (200 jobs in flight, 50 ms each, runs side by side; 67 to 104 in later runs of the new settings).
 * packages/db/test/install-path-plans.test.ts holds the shape.
 */
export const INSTALL_PATH_SESSION =
  '-c enable_seqscan=off -c enable_nestloop=off -c enable_mergejoin=off -c plan_cache_mode=force_generic_plan';

/** Builds the Prisma client on adapter-pg (no native engine) and the install path's pool. Only an app's main.ts or a test calls this. */
export function createDatabase(options: DatabaseOptions): Database {
  const onPoolError = options.onPoolError ?? (() => undefined);
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.poolMax ?? 10,
    connectionTimeoutMillis: options.connectionTimeoutMs ?? 5000,
    idleTimeoutMillis: 30_000,
    ...(options.applicationName ? { application_name: options.applicationName } : {}),
  });
  // Idle-connection errors (e.g. Postgres restarted) are heard on the pool itself, so it has a listener whether or not
  // Prisma is connected. The adapter does not end the pool (disposeExternalPool: false): close() ends it, once, after
  // Prisma has let go of it.
  pool.on('error', onPoolError);
  const adapter = new PrismaPg(pool, { disposeExternalPool: false });
  const prisma = new PrismaClient({ adapter });
  const installPath = new pg.Pool({
    connectionString: options.url,
    max: options.installPathPoolMax ?? 4,
    connectionTimeoutMillis: options.connectionTimeoutMs ?? 5000,
    // Kept for minutes rather than seconds: each holds its prepared statements and their plans (warmInstallPath), which
    // a reopened connection would make again while the next rollout's first jobs wait.
    idleTimeoutMillis: 300_000,
    options: INSTALL_PATH_SESSION,
    ...(options.applicationName ? { application_name: `${options.applicationName}:install-path` } : {}),
  });
  installPath.on('error', onPoolError);
  const outstanding = [trackCheckedOut(pool), trackCheckedOut(installPath)];
  const closeGraceMs = options.closeGraceMs ?? 2000;
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      try {
        // Statements still running finish first. Prisma ended in the middle of one (a write in its implicit
        // transaction, such as an API key's last use recorded as a response finishes) never gives its connection
        // back: the statement fails with "Unknown transaction status" and pool.end() then waits forever.
        await Promise.all(outstanding.map((o) => o.settled(closeGraceMs)));
        await prisma.$disconnect();
      } finally {
        // Whatever is still out after the grace is a connection nobody will give back: it is closed, not waited for.
        for (const o of outstanding) o.destroyAll();
        await Promise.all([pool.end(), installPath.end()]);
      }
    })();
    return closing;
  };
  return { prisma, pool, installPath, close };
}

/** The clients of `pool` checked out now, heard through its acquire and release events. */
function trackCheckedOut(pool: pg.Pool) {
  const out = new Set<pg.PoolClient>();
  const waiters = new Set<() => void>();
  pool.on('acquire', (client) => out.add(client));
  pool.on('release', (_error: Error | undefined, client: pg.PoolClient) => {
    out.delete(client);
    if (out.size === 0) for (const wake of waiters) wake();
  });
  return {
    /** Resolves once no client is checked out, or after `graceMs`. */
    async settled(graceMs: number): Promise<void> {
      if (out.size === 0) return;
      let timer: NodeJS.Timeout | undefined;
      let wake: (() => void) | undefined;
      await new Promise<void>((resolve) => {
        wake = resolve;
        waiters.add(resolve);
        timer = setTimeout(resolve, graceMs);
      });
      clearTimeout(timer);
      if (wake) waiters.delete(wake);
    },
    /** Gives every client still out back as broken, which closes it and takes it out of the pool. */
    destroyAll(): void {
      for (const client of [...out]) {
        out.delete(client);
        try {
          client.release(new Error('the database was closed while this connection was still in use'));
        } catch {
          // Released meanwhile by its user: nothing is left to do.
        }
      }
    },
  };
}

/** True when Postgres answers a trivial query within the pool's timeout. */
export async function isDatabaseReachable(db: Database): Promise<boolean> {
  try {
    await db.prisma.$queryRaw`SELECT 1`;
    return true;
  } catch {
    return false;
  }
}

const UNAVAILABLE_PATTERNS = [
  /ECONNREFUSED/,
  /ECONNRESET/,
  /Connection terminated/i,
  /timeout exceeded when trying to connect/i,
  /Can't reach database/i,
  /the database system is (starting up|shutting down)/i,
  /terminating connection due to administrator command/i,
  /Client has encountered a connection error/i,
  /DatabaseNotReachable/,
];
const UNAVAILABLE_CODES = new Set(['P1001', 'P1002', 'P1017', 'P2024', '57P01', '57P03', 'ECONNREFUSED', 'ECONNRESET']);

/** True for errors meaning "Postgres cannot be reached right now" (worth a retry or a 503), not a bad query. */
export function isDatabaseUnavailableError(error: unknown): boolean {
  for (let e: unknown = error, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && UNAVAILABLE_CODES.has(code)) return true;
    const kind = (e as { kind?: unknown }).kind;
    if (typeof kind === 'string' && /DatabaseNotReachable|ConnectionClosed|SocketTimeout/i.test(kind)) return true;
    const message = e instanceof Error ? e.message : typeof e === 'string' ? e : '';
    if (UNAVAILABLE_PATTERNS.some((p) => p.test(message))) return true;
  }
  return false;
}
