import { hostname } from 'node:os';
import { z } from 'zod';

/** The schema of a whole number in [min, max] (max: none when omitted), with one message for every way to miss it. */
function wholeNumber(min: number, max: number | undefined) {
  const expected =
    max === undefined ? `expected an integer from ${min} up` : `expected an integer from ${min} to ${max}`;
  const number = z.coerce.number({ error: expected }).int({ error: expected }).min(min, { error: expected });
  return max === undefined ? number : number.max(max, { error: expected });
}

const integer = (min: number, max: number | undefined, fallback: number) => wholeNumber(min, max).default(fallback);

const LOG_LEVELS = ['error', 'warn', 'info', 'http', 'verbose', 'debug', 'silly'] as const;
const BOOLEANS = ['true', 'false', '1', '0', 'yes', 'no'] as const;

/** `LOG_FORMAT` as parsed: unset (undefined) leaves the choice to the process (pretty on a terminal, else JSON). */
export type LogFormatSetting = 'json' | 'pretty' | undefined;

/**
 * Common field helpers, so every app spells its env vars the same way and says the same thing when one is wrong: each
 * message says what is allowed (the one line an app prints on a bad variable, see @fleet/lifecycle).
 */
export const env = {
  port: (fallback: number) => integer(0, 65535, fallback),
  positiveInt: (fallback: number) => integer(1, undefined, fallback),
  nonNegativeInt: (fallback: number) => integer(0, undefined, fallback),
  /**
   * A nice value (the scheduler's priority of a process or thread: -20, the most favoured, to 19, the least). Unset
   * or empty: undefined (left as it is).
   */
  nice: () => z.preprocess((v) => (v === '' ? undefined : v), wholeNumber(-20, 19).optional()),
  url: (fallback: string) =>
    z
      .string()
      .url({ error: `expected an absolute URL such as ${fallback}` })
      .default(fallback),
  logLevel: () => z.enum(LOG_LEVELS, { error: `expected one of ${LOG_LEVELS.join(', ')}` }).default('info'),
  /**
   * `json` (one JSON object a line) or `pretty` (one readable line an entry). Unset or empty: undefined, and the app
   * picks pretty when its stdout is a terminal and JSON otherwise.
   */
  logFormat: () =>
    z.preprocess(
      (v) => (v === '' ? undefined : v),
      z.enum(['json', 'pretty'], { error: 'expected json or pretty' }).optional(),
    ),
  /** `NO_COLOR` (no-color.org): set to anything but the empty string, no colours. */
  noColor: () =>
    z
      .string()
      .optional()
      .transform((v) => v !== undefined && v !== ''),
  /**
   * The id a process writes into the rows it owns (WORKER_ID, RECONCILER_ID, NOTIFIER_ID): unique among the processes
   * of one deployment. Default `<hostname>-<pid>` of the process that parses it.
   */
  processId: () => z.string().min(1).default(`${hostname()}-${process.pid}`),
  bool: (fallback: boolean) =>
    z
      .enum(BOOLEANS, { error: `expected one of ${BOOLEANS.join(', ')}` })
      .default(fallback ? 'true' : 'false')
      .transform((v) => v === 'true' || v === '1' || v === 'yes'),
};
