/**
 * Prisma CLI configuration. The CLI runs its WebAssembly schema engine through a driver adapter, because the native
 * engines are downloaded at run time and that download cannot happen on our machines (see README, "Prisma").
 */
import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import { defineConfig } from 'prisma/config';

const CHAR_OID = 18;
const NAME_OID = 19;
const TEXT_OID = 25;

/**
 * adapter-pg cannot decode the catalog types "char" and name that the Wasm schema engine reads while migrating
 * ("Column type 'name' could not be deserialized", prisma/orm#27403). Their text form is plain text, so the CLI's
 * connections report them as text. Only the CLI uses this client; the application uses adapter-pg unchanged.
 */
class CatalogAsTextClient extends pg.Client {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  override query(...args: any[]): any {
    const last = args.length - 1;
    // pg's Pool calls query with a callback; a direct caller may use the promise form. Both are covered.
    if (typeof args[last] === 'function') {
      const callback = args[last] as (err: Error | null, res?: pg.QueryResult) => void;
      args[last] = (err: Error | null, res?: pg.QueryResult) =>
        callback(err, err ? res : reportCatalogTypesAsText(res));
    }
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const result = (super.query as any)(...args);
    return result && typeof result.then === 'function' ? result.then(reportCatalogTypesAsText) : result;
  }
}

function reportCatalogTypesAsText<T extends pg.QueryResult | undefined>(res: T): T {
  for (const field of res?.fields ?? []) {
    if (field.dataTypeID === CHAR_OID || field.dataTypeID === NAME_OID) field.dataTypeID = TEXT_OID;
  }
  return res;
}

const DEFAULT_DATABASE_URL = 'postgresql://postgres@127.0.0.1:5432/fleet';
process.env.DATABASE_URL ??= DEFAULT_DATABASE_URL;

export default defineConfig({
  engine: 'js',
  experimental: { adapter: true },
  schema: 'prisma/schema.prisma',
  migrations: { path: 'prisma/migrations' },
  async adapter() {
    // Discrete fields rather than a connection string: `migrate dev` derives the shadow database from this config
    // and a connection string would override the shadow database's name.
    const url = new URL(process.env.DATABASE_URL ?? DEFAULT_DATABASE_URL);
    return new PrismaPg({
      host: url.hostname,
      port: Number(url.port || 5432),
      user: decodeURIComponent(url.username || 'postgres'),
      password: url.password ? decodeURIComponent(url.password) : undefined,
      database: url.pathname.replace(/^\//, '') || 'postgres',
      // A short idle timeout lets `migrate dev` drop its shadow database without "being accessed by other users".
      idleTimeoutMillis: 50,
      Client: CatalogAsTextClient as unknown as typeof pg.Client,
    });
  },
});
