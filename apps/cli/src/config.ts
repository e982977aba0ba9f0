import { LOCAL_DEFAULTS, env, parseConfig, z } from '@fleet/config';

/** The apps `fleet up` can start. */
const UP_APPS = ['simulator', 'api', 'worker', 'reconciler'] as const;

/** The variables `fleet` (npm start, db:migrate, create-api-key, db:check) reads itself; the apps it starts read theirs. */
export const cliConfigSchema = z.object({
  DATABASE_URL: env.url(LOCAL_DEFAULTS.databaseUrl),
  REDIS_URL: env.url(LOCAL_DEFAULTS.redisUrl),
  /** Apps `up` starts, comma-separated; default all four. */
  FLEET_APPS: z
    .string()
    .default(UP_APPS.join(','))
    .transform((s) =>
      s
        .split(',')
        .map((a) => a.trim())
        .filter(Boolean),
    )
    .pipe(
      z.array(z.enum(UP_APPS, { error: `expected a comma-separated list of ${UP_APPS.join(', ')}` })).min(1, {
        error: `expected a comma-separated list of ${UP_APPS.join(', ')}`,
      }),
    ),
  LOG_LEVEL: z
    .enum(['error', 'warn', 'info', 'debug'], { error: 'expected one of error, warn, info, debug' })
    .default('info'),
});

export type CliConfig = Readonly<z.output<typeof cliConfigSchema>>;

export function loadCliConfig(source: Record<string, string | undefined>): CliConfig {
  return parseConfig(cliConfigSchema, source);
}
