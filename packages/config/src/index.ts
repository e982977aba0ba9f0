import { z } from 'zod';
import { ConfigError } from '@fleet/errors';

export { z };

/** Names of settings whose values never appear in a logged config. */
const SECRET_NAME = /secret|password|token|api_?key/i;

/**
 * Parses `env` once with `schema` and returns a frozen, typed config. Fails with a ConfigError naming the first
 * variable at fault. Only `main.ts` of an app calls this, with `process.env`.
 */
export function parseConfig<S extends z.ZodType>(
  schema: S,
  env: Record<string, string | undefined>,
): Readonly<z.output<S>> {
  const result = schema.safeParse(env);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    const variable = issue.path.map(String).join('.') || '(environment)';
    throw new ConfigError(variable, issue.message);
  }
  return Object.freeze(result.data) as Readonly<z.output<S>>;
}

/** A copy of a config fit to log: every secret-looking key, and credentials inside URLs, are masked. */
export function redactConfig(config: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(config)) {
    if (SECRET_NAME.test(key)) out[key] = value === undefined || value === '' ? value : '[redacted]';
    else if (typeof value === 'string' && /^[a-z]+:\/\/[^/]*@/i.test(value))
      out[key] = value.replace(/\/\/([^:/@]*):[^@]*@/, '//$1:[redacted]@');
    else out[key] = value;
  }
  return out;
}

/** Common field helpers, so every app spells its env vars the same way. */
export const env = {
  port: (fallback: number) => z.coerce.number().int().min(0).max(65535).default(fallback),
  positiveInt: (fallback: number) => z.coerce.number().int().positive().default(fallback),
  nonNegativeInt: (fallback: number) => z.coerce.number().int().min(0).default(fallback),
  url: (fallback: string) => z.string().url().default(fallback),
  logLevel: () => z.enum(['error', 'warn', 'info', 'http', 'verbose', 'debug', 'silly']).default('info'),
  bool: (fallback: boolean) =>
    z
      .enum(['true', 'false', '1', '0', 'yes', 'no'])
      .default(fallback ? 'true' : 'false')
      .transform((v) => v === 'true' || v === '1' || v === 'yes'),
};

/** Defaults shared by every app so the product runs on one machine with nothing set. */
export const LOCAL_DEFAULTS = Object.freeze({
  databaseUrl: 'postgresql://postgres@127.0.0.1:5432/fleet',
  redisUrl: 'redis://127.0.0.1:6379',
  simulatorPort: 8787,
  /** The simulator's built-in AccessKey pair: not a real credential, only good against our simulator. */
  accessKeyId: 'LTAIsimulatorkey0001',
  accessKeySecret: 'simulator-secret-not-for-production',
});

/**
 * The CloudMonitor client settings, spelled and defaulted the same in every app that calls CloudMonitor (worker,
 * reconciler). An app spreads them into its schema and may redefine a field to say what its calls are; @fleet/cms-client
 * (`cmsClientOptions`) turns the parsed settings into client options.
 */
export const cmsClientEnv = {
  /** The CloudMonitor endpoint. Default: the local simulator. */
  CMS_ENDPOINT: env.url(`http://127.0.0.1:${LOCAL_DEFAULTS.simulatorPort}/`),
  CMS_ACCESS_KEY_ID: z.string().min(1).default(LOCAL_DEFAULTS.accessKeyId),
  CMS_ACCESS_KEY_SECRET: z.string().min(1).default(LOCAL_DEFAULTS.accessKeySecret),
  /** STS token, when the AccessKey pair is temporary. */
  CMS_SECURITY_TOKEN: z.string().min(1).optional(),
  /** Deadline of one call, in ms. Default 10000. */
  CMS_TIMEOUT_MS: env.positiveInt(10_000),
  /** `POST` (default, form body) or `GET` (every parameter in the query string). */
  CMS_METHOD: z.enum(['GET', 'POST']).default('POST'),
};
