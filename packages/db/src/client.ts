import { PrismaPg } from '@prisma/adapter-pg';
import { PrismaClient } from './generated/prisma/client.ts';

export type Database = PrismaClient;

export type DatabaseOptions = {
  /** postgresql:// URL of the system of record. */
  url: string;
  /** Most pooled connections this process opens. Default 10. */
  poolMax?: number;
  /** How long to wait for a free or new connection before failing, in ms. Default 5000. */
  connectionTimeoutMs?: number;
  /** Called with errors of idle pooled connections (e.g. Postgres restarted), which must not crash the process. */
  onPoolError?: (error: Error) => void;
};

/** Builds the Prisma client on adapter-pg (no native engine). Only an app's main.ts or a test calls this. */
export function createDatabase(options: DatabaseOptions): Database {
  const adapter = new PrismaPg(
    {
      connectionString: options.url,
      max: options.poolMax ?? 10,
      connectionTimeoutMillis: options.connectionTimeoutMs ?? 5000,
      idleTimeoutMillis: 30_000,
    },
    { onPoolError: options.onPoolError ?? (() => undefined) },
  );
  return new PrismaClient({ adapter });
}

/** True when Postgres answers a trivial query within the pool's timeout. */
export async function isDatabaseReachable(db: Database): Promise<boolean> {
  try {
    await db.$queryRaw`SELECT 1`;
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
