import type { z } from 'zod';
import { ConfigError } from '@fleet/errors';

/** Names of settings whose values never appear in a logged config or a configuration error. */
const SECRET_NAME = /secret|password|token|api_?key|encryption_(previous_)?keys?|^sim_accounts$/i;
/** Settings about a secret, not secrets: API_KEY_CACHE_MS, CMS_SIGNATURE_VERSION, FLEET_ENCRYPTION_KEY_FILE. */
const ABOUT_A_SECRET = /_(MS|VERSION|FILE)$/;
const isSecretName = (name: string) => SECRET_NAME.test(name) && !ABOUT_A_SECRET.test(name);
/** `scheme://user:password@`: the password part of a URL. */
const URL_PASSWORD = /\/\/([^:/@]*):[^@]*@/;
/** Longest value a configuration error repeats; a longer one is cut, so the line stays one screen line. */
const SHOWN_VALUE_CHARS = 60;

/** A URL's password masked, wherever it sits in `text`. */
function maskUrlPassword(text: string): string {
  return text.replace(URL_PASSWORD, '//$1:[redacted]@');
}

/**
 * What a variable's value looks like in a configuration error: quoted and cut short, a URL's password masked, and
 * nothing but its length for a secret. Undefined when the variable is not set.
 */
function showValue(variable: string, value: unknown): string | undefined {
  if (value === undefined) return undefined;
  const text = String(value);
  if (isSecretName(variable)) return `(${text.length} characters, not shown)`;
  const masked = maskUrlPassword(text);
  return JSON.stringify(masked.length > SHOWN_VALUE_CHARS ? `${masked.slice(0, SHOWN_VALUE_CHARS)}...` : masked);
}

/**
 * What is allowed, for a zod issue whose schema gave no message of its own (the `env` helpers do give theirs): zod's
 * default wording ("Invalid input: expected number, received NaN") is written for programmers.
 */
function expectation(issue: z.core.$ZodRawIssue): string | undefined {
  switch (issue.code) {
    case 'invalid_type':
      if (issue.input === undefined) return 'must be set';
      if (issue.expected === 'int') return 'expected an integer';
      if (issue.expected === 'number') return 'expected a number';
      return `expected ${issue.expected}`;
    case 'too_small':
    case 'too_big': {
      const bound = issue.code === 'too_small' ? issue.minimum : issue.maximum;
      const word =
        issue.code === 'too_small'
          ? issue.inclusive
            ? 'at least'
            : 'more than'
          : issue.inclusive
            ? 'at most'
            : 'less than';
      if (issue.origin === 'string') return `expected ${word} ${bound} characters`;
      if (issue.origin === 'array') return `expected ${word} ${bound} entries`;
      return `expected a number ${word} ${bound}`;
    }
    case 'invalid_value':
      return `expected one of ${issue.values.map(String).join(', ')}`;
    case 'invalid_format':
      if (issue.format === 'url') return 'expected an absolute URL';
      if (issue.format === 'regex' && issue.pattern) return `expected text matching ${issue.pattern}`;
      return `expected a valid ${issue.format}`;
    default:
      return undefined;
  }
}

/**
 * Parses `env` once with `schema` and returns a frozen, typed config. Fails with a ConfigError naming the first
 * variable at fault, its value (never a secret's) and what is allowed. Only `main.ts` of an app calls this, with
 * `process.env`.
 */
export function parseConfig<S extends z.ZodType>(
  schema: S,
  env: Record<string, string | undefined>,
): Readonly<z.output<S>> {
  const result = schema.safeParse(env, { error: (issue) => expectation(issue) });
  if (!result.success) {
    const issue = result.error.issues[0]!;
    // The variable is the first step of the path; a list variable (FLEET_APPS) adds the index of its bad entry.
    const variable = issue.path.length > 0 ? String(issue.path[0]) : '(environment)';
    throw new ConfigError(variable, issue.message, { shownValue: showValue(variable, env[variable]) });
  }
  return Object.freeze(result.data) as Readonly<z.output<S>>;
}

/** A copy of a config fit to log: every secret-looking key, and credentials inside URLs, are masked. */
export function redactConfig(config: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(config)) {
    if (isSecretName(key)) out[key] = value === undefined || value === '' ? value : '[redacted]';
    else if (typeof value === 'string' && /^[a-z]+:\/\/[^/]*@/i.test(value)) out[key] = maskUrlPassword(value);
    else out[key] = value;
  }
  return out;
}
