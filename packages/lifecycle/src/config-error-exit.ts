import { ConfigError } from '@fleet/errors';
import { EXIT_CODES } from './exit-codes.ts';

/** `worker: configuration error: WORKER_CONCURRENCY="abc": expected an integer from 1 up` */
export function configErrorLine(app: string, error: ConfigError): string {
  const value = error.shownValue === undefined ? '' : `=${error.shownValue}`;
  return `${app}: configuration error: ${error.variable}${value}: ${error.expected}`;
}

/**
 * Runs `load` (an app's config parse); on a ConfigError writes its one line to stderr and ends the process with
 * EXIT_CODES.config (78), before anything has started: an operator reads which variable and what is allowed, not a
 * stack trace. Any other error is thrown on. Only an app's main.ts calls this, first thing.
 */
export function loadConfigOrExit<T>(app: string, load: () => T): T {
  try {
    return load();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    // Synchronous for files and pipes (and terminals on POSIX), so the line is out before the exit.
    process.stderr.write(`${configErrorLine(app, error)}\n`);
    process.exit(EXIT_CODES.config);
  }
}
