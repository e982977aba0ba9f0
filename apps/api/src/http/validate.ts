import type { Request } from 'express';
import type { z } from 'zod';
import type { FieldLocation, FieldProblem } from '@fleet/errors';
import { ValidationError } from '@fleet/errors';

/** Most field problems listed in one answer; a 100,000-element array of bad ids must not make a 100,000-line answer. */
const MAX_FIELD_PROBLEMS = 20;
/** Characters of a refused value shown back; the rest is cut, so a 1 MB string never makes a 1 MB answer. */
const SHOWN_VALUE_CHARS = 40;

function formatPath(path: readonly PropertyKey[]): string {
  return path.reduce<string>(
    (acc, key) => (typeof key === 'number' ? `${acc}[${key}]` : acc ? `${acc}.${String(key)}` : String(key)),
    '',
  );
}

/**
 * A refused value as the answer shows it: strings quoted as JSON with everything outside printable ASCII escaped
 * (`\u2028`, bidi overrides and control characters cannot reach a terminal or a log viewer raw), cut after
 * SHOWN_VALUE_CHARS characters (whole code points) with `...` and the full length; numbers, booleans and null as
 * they are. Objects and arrays are not shown (their fields are named instead); undefined is a missing field.
 */
export function showValue(value: unknown): string | null {
  if (typeof value === 'number' || typeof value === 'boolean' || value === null) return String(value);
  if (typeof value !== 'string') return null;
  const codePoints = Array.from(value);
  const cut = codePoints.length > SHOWN_VALUE_CHARS;
  const quoted = JSON.stringify(cut ? codePoints.slice(0, SHOWN_VALUE_CHARS).join('') : value).replace(
    /[^\x20-\x7e]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
  return cut ? `${quoted}... (${codePoints.length} characters)` : quoted;
}

/**
 * Where the parsed value came from. For a path parameter or a header `name` is the field when the value itself is
 * at fault (its zod path is empty).
 */
export type InputLocation =
  { in: 'body' } | { in: 'query' } | { in: 'path'; name: string } | { in: 'header'; name: string };

function fieldPath(location: InputLocation | undefined, path: string): string {
  if (location?.in === 'path' || location?.in === 'header') return path ? `${location.name}.${path}` : location.name;
  return path;
}

/**
 * Parses `value` with `schema` or throws a ValidationError naming every field at fault (up to a limit), where it is
 * (`location`), what is allowed, and the value refused (see showValue). `what` names the whole value in the detail
 * ("rollout is invalid: ..."). Without `location` the answer does not say where (`in`) rather than guess. The
 * value of a field in `secretFields` (an AccessKey secret) is never shown back.
 */
export function parseOrThrow<S extends z.ZodType>(
  schema: S,
  value: unknown,
  what: string,
  location?: InputLocation,
  secretFields: readonly string[] = [],
): z.output<S> {
  // reportInput: each issue carries the value it refused, to show it back.
  const result = schema.safeParse(value, { reportInput: true });
  if (result.success) return result.data;
  const where: { in?: FieldLocation } = location ? { in: location.in } : {};
  const fields: FieldProblem[] = result.error.issues
    .flatMap((issue): FieldProblem[] => {
      // An unknown field is reported at its own path, so the client sees exactly which key to remove.
      if (issue.code === 'unrecognized_keys')
        return issue.keys.map((key) => ({
          path: fieldPath(location, formatPath([...issue.path, key])),
          message: 'unknown field',
          ...where,
        }));
      const path = formatPath(issue.path);
      const shown = secretFields.includes(path) ? null : showValue(issue.input);
      return [
        {
          path: fieldPath(location, path),
          message: shown === null ? issue.message : `${issue.message}; got ${shown}`,
          ...where,
        },
      ];
    })
    .slice(0, MAX_FIELD_PROBLEMS);
  const first = fields[0]!;
  const place =
    location?.in === 'path'
      ? `path parameter ${first.path}`
      : location?.in === 'header'
        ? `header ${first.path}`
        : first.path || '(root)';
  throw new ValidationError(`${what} is invalid: ${place}: ${first.message}`, fields);
}

/**
 * Path parameter `name` (`/v1/rollouts/:id` -> `id`) parsed with `schema`; a 400 names it as the path parameter
 * (`in: "path"`), not as the body. `what` names it in the detail ("rollout id is invalid: path parameter id: ...").
 */
export function parsePathParam<S extends z.ZodType>(schema: S, req: Request, name: string, what: string): z.output<S> {
  return parseOrThrow(schema, req.params[name], what, { in: 'path', name });
}
