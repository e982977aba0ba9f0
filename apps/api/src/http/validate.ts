import type { z } from 'zod';
import { ValidationError } from '@fleet/errors';

/** Most field problems listed in one answer; a 100,000-element array of bad ids must not make a 100,000-line answer. */
const MAX_FIELD_PROBLEMS = 20;

function formatPath(path: readonly PropertyKey[]): string {
  return path.reduce<string>(
    (acc, key) => (typeof key === 'number' ? `${acc}[${key}]` : acc ? `${acc}.${String(key)}` : String(key)),
    '',
  );
}

/** Parses `value` with `schema` or throws a ValidationError naming every field at fault (up to a limit). */
export function parseOrThrow<S extends z.ZodType>(schema: S, value: unknown, what: string): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const fields = result.error.issues
    .flatMap((issue) =>
      // An unknown field is reported at its own path, so the client sees exactly which key to remove.
      issue.code === 'unrecognized_keys'
        ? issue.keys.map((key) => ({ path: formatPath([...issue.path, key]), message: 'unknown field' }))
        : [{ path: formatPath(issue.path), message: issue.message }],
    )
    .slice(0, MAX_FIELD_PROBLEMS);
  const first = fields[0]!;
  throw new ValidationError(`${what} is invalid: ${first.path || '(root)'}: ${first.message}`, fields);
}
