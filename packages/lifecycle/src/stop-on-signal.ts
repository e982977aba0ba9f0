/** The logger methods shutdown writes with; a winston Logger from @fleet/logger has them. */
export type ShutdownLogger = {
  info(message: string, meta?: Record<string, unknown>): unknown;
  warn(message: string, meta?: Record<string, unknown>): unknown;
  error(message: string, meta?: Record<string, unknown>): unknown;
};

export type StopOnSignalOptions = {
  /** The app's name in the log lines `stopping <name>` and `<name> stopped`. */
  name: string;
  logger: ShutdownLogger;
  /** Drains the app and closes its clients. Called once, on the first SIGTERM or SIGINT. */
  stop: () => Promise<void>;
  /**
   * Longest stop() may take, in ms; past it the process exits with code 1. Default: none, for apps whose stop()
   * is bounded by deadlines of its own (the worker pool's SHUTDOWN_TIMEOUT_MS).
   */
  deadlineMs?: number;
  /**
   * How the process ends once stop() has finished. `exit` (default): process.exit, code 0, or 1 if stop() failed,
   * whatever may still hold the event loop. `drain`: the process ends by itself when its event loop is empty, with
   * exit code 1 if stop() failed; for an app whose stop() closes everything it opened.
   */
  end?: 'exit' | 'drain';
  /**
   * A signal within this many ms of the first is the same request arriving twice, not a second one: a Ctrl-C in a
   * terminal reaches every process of the foreground group, and a supervisor (npm start, tsx) forwards it as well.
   * Default 1000.
   */
  repeatWindowMs?: number;
};

/**
 * Makes the first SIGTERM or SIGINT stop the app (see StopOnSignalOptions for how the process then ends); a second
 * signal while it stops (later than `repeatWindowMs` after the first) exits at once with code 1. Only an app's
 * main.ts calls this, once its app has started.
 */
export function stopOnSignal(options: StopOnSignalOptions): void {
  const { name, logger } = options;
  const end = (code: 0 | 1) => {
    if ((options.end ?? 'exit') === 'exit') process.exit(code);
    if (code !== 0) process.exitCode = code;
  };
  const repeatWindowMs = options.repeatWindowMs ?? 1000;
  let stopping = false;
  let firstAt = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) {
      if (Date.now() - firstAt < repeatWindowMs) {
        logger.info('signal repeated while stopping, taken as the same request', { signal });
        return;
      }
      logger.warn('second signal, exiting now', { signal });
      process.exit(1);
    }
    stopping = true;
    firstAt = Date.now();
    logger.info(`stopping ${name}`, { signal });
    if (options.deadlineMs !== undefined) {
      setTimeout(() => {
        logger.error('shutdown deadline passed, exiting');
        process.exit(1);
      }, options.deadlineMs).unref();
    }
    Promise.resolve()
      .then(() => options.stop())
      .then(
        () => {
          logger.info(`${name} stopped`);
          end(0);
        },
        (error: unknown) => {
          logger.error('stop failed', { error });
          end(1);
        },
      );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}
