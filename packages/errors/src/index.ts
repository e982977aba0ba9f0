/**
 * Named errors shared by every app. Each carries a machine-readable `code`; API-facing ones also carry the HTTP
 * status they map to. Anything else that is thrown is normalised once by `toFleetError`.
 */
export type FleetErrorOptions = { cause?: unknown };

export class FleetError extends Error {
  override name = 'FleetError';
  readonly code: string;
  constructor(code: string, message: string, options: FleetErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
  }
}

/**
 * A setting in the environment is missing or malformed. `variable` names it, `expected` says what is allowed, and
 * `shownValue` is its value as it may be printed (quoted and cut short; only the length of a secret); undefined when
 * the variable is not set.
 */
export class ConfigError extends FleetError {
  override name = 'ConfigError';
  readonly shownValue: string | undefined;
  constructor(
    readonly variable: string,
    readonly expected: string,
    options: { shownValue?: string | undefined } = {},
  ) {
    super('config_invalid', `${variable}: ${expected}`);
    this.shownValue = options.shownValue;
  }
}

/** Where in the request a field at fault is. */
export type FieldLocation = 'body' | 'query' | 'path' | 'header';

/**
 * A field at fault: `path` is its place within `in` (default `body`): `instanceIds[3]` in the body, `limit` in the
 * query, `id` among the path parameters, `Idempotency-Key` among the headers.
 */
export type FieldProblem = { path: string; message: string; in?: FieldLocation };

/** An error the API answers with a problem+json document (RFC 9457). */
export class ApiError extends FleetError {
  override name = 'ApiError';
  constructor(
    readonly status: number,
    code: string,
    readonly title: string,
    message: string,
    readonly fields: FieldProblem[] = [],
    options: FleetErrorOptions = {},
  ) {
    super(code, message, options);
  }
}

export class ValidationError extends ApiError {
  override name = 'ValidationError';
  constructor(message: string, fields: FieldProblem[]) {
    super(400, 'validation_failed', 'Request validation failed', message, fields);
  }
}

export class NotFoundError extends ApiError {
  override name = 'NotFoundError';
  constructor(what: string) {
    super(404, 'not_found', 'Not found', `${what} was not found`);
  }
}

export class ConflictError extends ApiError {
  override name = 'ConflictError';
  constructor(code: string, message: string) {
    super(409, code, 'Conflict', message);
  }
}

/** A dependency (Postgres, Redis) cannot be reached; the API answers 503. */
export class DependencyUnavailableError extends ApiError {
  override name = 'DependencyUnavailableError';
  constructor(
    readonly dependency: 'postgres' | 'redis',
    options: FleetErrorOptions = {},
  ) {
    super(
      503,
      `${dependency}_unavailable`,
      'Service unavailable',
      `${dependency} is unavailable, try again later`,
      [],
      options,
    );
  }
}

/** Normalises any throwable into an Error exactly once (strings, objects and undefined included). */
export function toError(thrown: unknown): Error {
  if (thrown instanceof Error) return thrown;
  if (typeof thrown === 'string') return new FleetError('unknown', thrown);
  let text: string;
  try {
    text = JSON.stringify(thrown) ?? String(thrown);
  } catch {
    text = String(thrown);
  }
  return new FleetError('unknown', `non-error thrown: ${text}`);
}

export function errorCode(thrown: unknown): string {
  return thrown instanceof FleetError ? thrown.code : 'unknown';
}

export function assertNever(value: never, what = 'value'): never {
  throw new FleetError('assert_never', `unexpected ${what}: ${JSON.stringify(value)}`);
}
