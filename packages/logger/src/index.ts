import { AsyncLocalStorage } from 'node:async_hooks';
import winston from 'winston';
import { prettyLine } from './pretty-line.ts';
import type { LogFormat } from './pretty-line.ts';

export { chooseLogOutput } from './log-output.ts';
export type { LogFormat } from './pretty-line.ts';

export type Logger = winston.Logger;

/** Fields that travel with an operation (HTTP request, job) and land on every log line made inside it. */
export type LogContext = { requestId?: string; rolloutId?: string; instanceId?: string; jobId?: string };

const contextStore = new AsyncLocalStorage<LogContext>();

/** Runs `fn` with `context` added to every log line written inside it, across awaits. */
export function withLogContext<T>(context: LogContext, fn: () => T): T {
  return contextStore.run({ ...contextStore.getStore(), ...context }, fn);
}

export function currentLogContext(): LogContext {
  return contextStore.getStore() ?? {};
}

const SECRET_KEY = /secret|password|authorization|signature|api_?key|token|encryption_(previous_)?keys?/i;
/**
 * Settings about a secret, not secrets: a duration, a version, a file's path (API_KEY_CACHE_MS, CMS_SIGNATURE_VERSION,
 * FLEET_ENCRYPTION_KEY_FILE; apiKeyCacheMs, signatureVersion).
 */
const ABOUT_A_SECRET = /(_MS|_VERSION|_FILE|[a-z](Ms|Version|File))$/;
const isSecretKey = (key: string) => SECRET_KEY.test(key) && !ABOUT_A_SECRET.test(key);
const REDACTED = '[redacted]';

/** Masks secret-named keys and every occurrence of a known secret value, however deep it sits. */
export function makeRedactor(secretValues: readonly string[]) {
  const values = secretValues.filter((s) => s.length >= 4);
  const scrub = (text: string) => values.reduce((acc, secret) => acc.split(secret).join(REDACTED), text);
  const visit = (value: unknown, depth: number, seen: WeakSet<object>): unknown => {
    if (typeof value === 'string') return scrub(value);
    if (value === null || typeof value !== 'object' || depth > 8) return value;
    if (seen.has(value)) return '[circular]';
    seen.add(value);
    if (value instanceof Error) {
      return {
        name: value.name,
        message: scrub(value.message),
        code: (value as { code?: unknown }).code,
        stack: value.stack ? scrub(value.stack) : undefined,
        cause: value.cause === undefined ? undefined : visit(value.cause, depth + 1, seen),
      };
    }
    if (Array.isArray(value)) return value.map((v) => visit(v, depth + 1, seen));
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value))
      out[k] = isSecretKey(k) && v != null && v !== '' ? REDACTED : visit(v, depth + 1, seen);
    return out;
  };
  return (value: unknown) => visit(value, 0, new WeakSet());
}

export type LoggerOptions = {
  /** Which component writes (api, worker, ...). */
  service: string;
  /** winston level; default `info`. */
  level?: string;
  /** Secret values (e.g. the AccessKey secret) that must never be written, whatever field holds them. */
  secrets?: readonly string[];
  /**
   * `json` (default): one JSON object a line. `pretty`: one readable line an entry (time, app, level, message, k=v
   * fields), for a person at a terminal. An app picks it with chooseLogOutput from LOG_FORMAT and its stdout.
   */
  format?: LogFormat;
  /** Colour the level of pretty lines (ANSI); default false. Only for a terminal, never with NO_COLOR set. */
  color?: boolean;
  /** Where lines go; default stdout. Tests pass a stream to capture lines. */
  stream?: NodeJS.WritableStream;
  silent?: boolean;
};

/** The one logger factory: JSON or pretty lines, log context merged in, secrets redacted before anything is written. */
export function createLogger(options: LoggerOptions): Logger {
  const redact = makeRedactor(options.secrets ?? []);
  const applyContextAndRedaction = winston.format((info) => {
    const merged = { ...currentLogContext(), ...info };
    const clean = redact(merged) as Record<string | symbol, unknown>;
    for (const key of Object.keys(info)) delete (info as Record<string, unknown>)[key];
    Object.assign(info, clean);
    return info;
  });
  const transport = options.stream
    ? new winston.transports.Stream({ stream: options.stream })
    : new winston.transports.Console();
  return winston.createLogger({
    level: options.level ?? 'info',
    silent: options.silent ?? false,
    defaultMeta: { service: options.service },
    format: winston.format.combine(
      winston.format.timestamp(),
      applyContextAndRedaction(),
      options.format === 'pretty'
        ? winston.format.printf((info) => prettyLine(info, { color: options.color ?? false }))
        : winston.format.json(),
    ),
    transports: [transport],
  });
}
