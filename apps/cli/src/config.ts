import { LOCAL_DEFAULTS, z } from '@fleet/config';

/** The variables `fleet` (npm start, db:migrate, create-api-key, db:check) reads itself; the apps it starts read theirs. */
export const cliConfigSchema = z.object({
  DATABASE_URL: z.string().url().default(LOCAL_DEFAULTS.databaseUrl),
  /** Apps `up` starts, comma-separated. */
  FLEET_APPS: z
    .string()
    .default('simulator,api,worker,reconciler')
    .transform((s) =>
      s
        .split(',')
        .map((a) => a.trim())
        .filter(Boolean),
    )
    .pipe(z.array(z.enum(['simulator', 'api', 'worker', 'reconciler'])).min(1)),
  LOG_LEVEL: z.enum(['error', 'warn', 'info', 'debug']).default('info'),
});
