/** What a failed undici request says about itself, read the same way whatever layer threw it. */

type ErrorLike = { code?: unknown; message?: unknown; cause?: unknown; errors?: unknown };

/** The errno-style code of a network error; undici and net put it on the error, its cause, or (happy eyeballs) inside an AggregateError. */
export function errorCodeOf(error: unknown): string | null {
  const seen = new Set<unknown>();
  let current: unknown = error;
  while (typeof current === 'object' && current !== null && !seen.has(current)) {
    seen.add(current);
    const candidate = current as ErrorLike;
    if (typeof candidate.code === 'string' && candidate.code.length > 0) return candidate.code;
    if (Array.isArray(candidate.errors) && candidate.errors.length > 0) current = candidate.errors[0];
    else current = candidate.cause;
  }
  return null;
}

export function errorMessageOf(error: unknown): string {
  if (error instanceof Error && error.message.length > 0) return error.message;
  if (error instanceof AggregateError) return error.errors.map(errorMessageOf).join('; ');
  return String(error);
}

// undici's own deadlines (backstops behind our AbortController) report as errors with these codes.
export const UNDICI_TIMEOUT_CODES: ReadonlySet<string> = new Set([
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_CONNECT_TIMEOUT',
]);
