import { LOCAL_DEFAULTS, encryptionEnv, env, parseConfig, z } from '@fleet/config';

/** The apps `fleet up` can start. */
const UP_APPS = ['simulator', 'api', 'worker', 'reconciler', 'notifier'] as const;

/** An empty variable counts as unset (as the simulator reads its own). */
const unsetIfEmpty = <T extends z.ZodType>(schema: T) => z.preprocess((v) => (v === '' ? undefined : v), schema);

/**
 * The variables `fleet` (npm start, db:migrate, create-api-key, db:check) reads itself; the apps it starts read theirs.
 * PORT, HOST, SIMULATOR_PORT and SIMULATOR_HOST are the API's and the simulator's own variables (same defaults), read
 * here only to say where those apps listen.
 */
export const cliConfigSchema = z.object({
  DATABASE_URL: env.url(LOCAL_DEFAULTS.databaseUrl),
  REDIS_URL: env.url(LOCAL_DEFAULTS.redisUrl),
  /** Apps `up` starts, comma-separated; default all five. */
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
  /**
   * Where `up` keeps the admin API key it makes for the quick start (mode 0600, its directory 0700 when made by
   * `up`); a relative path is taken from the current directory. Default `.fleet/admin-key` under the repository.
   */
  FLEET_KEY_FILE: unsetIfEmpty(z.string().optional()),
  /**
   * Where `up` keeps the FLEET_ENCRYPTION_KEY it makes when that variable is unset (32 random bytes in base64, mode
   * 0600, its directory 0700 when made by `up`); a relative path is taken from the current directory. Default
   * `.fleet/encryption-key` under the repository. `rotate-encryption-key` reads its key as the current one (never
   * making one). Not read when FLEET_ENCRYPTION_KEY is set.
   */
  FLEET_ENCRYPTION_KEY_FILE: unsetIfEmpty(z.string().optional()),
  /** How long `up` waits for the API's /readyz (and the simulator) to answer 200 once started, in ms. Default 60000. */
  FLEET_READY_TIMEOUT_MS: env.positiveInt(60_000),
  PORT: unsetIfEmpty(env.port(LOCAL_DEFAULTS.apiPort)),
  HOST: unsetIfEmpty(z.string().default('0.0.0.0')),
  SIMULATOR_PORT: unsetIfEmpty(env.port(LOCAL_DEFAULTS.simulatorPort)),
  SIMULATOR_HOST: unsetIfEmpty(z.string().default('127.0.0.1')),
  LOG_LEVEL: z
    .enum(['error', 'warn', 'info', 'debug'], { error: 'expected one of error, warn, info, debug' })
    .default('info'),
  /** `json` or `pretty`; unset: pretty when `up`'s stdout is a terminal, else JSON. `up` hands its choice to its apps. */
  LOG_FORMAT: env.logFormat(),
  NO_COLOR: env.noColor(),
  // FLEET_ENCRYPTION_KEY and FLEET_ENCRYPTION_PREVIOUS_KEYS, for rotate-encryption-key (`up` hands them to its apps).
  ...encryptionEnv,
});

export type CliConfig = Readonly<z.output<typeof cliConfigSchema>>;

export function loadCliConfig(source: Record<string, string | undefined>): CliConfig {
  return parseConfig(cliConfigSchema, source);
}
