import { redactConfig } from '@fleet/config';
import type { Logger, LogFormat } from '@fleet/logger';
import { chooseLogOutput, createLogger } from '@fleet/logger';
import { loadConfigOrExit } from './config-error-exit.ts';

/** The log settings every app's config has (env.logLevel, env.logFormat and env.noColor of @fleet/config). */
export type AppLogSettings = { LOG_LEVEL: string; LOG_FORMAT?: LogFormat | undefined; NO_COLOR: boolean };

/**
 * The first lines of an app's main.ts: its configuration parsed by `load` (on a bad variable, one line on stderr and
 * exit 78, see loadConfigOrExit); its logger, JSON or pretty lines as LOG_FORMAT, NO_COLOR and a terminal on stdout
 * decide (chooseLogOutput), with `secrets(config)` masked wherever they would appear; and a first line
 * `starting <app>` with the configuration, secrets redacted.
 */
export function startApp<C extends AppLogSettings>(
  app: string,
  load: () => C,
  options: { secrets?: (config: C) => readonly string[] } = {},
): { config: C; logger: Logger } {
  const config = loadConfigOrExit(app, load);
  const logger = createLogger({
    service: app,
    level: config.LOG_LEVEL,
    ...chooseLogOutput({
      format: config.LOG_FORMAT,
      noColor: config.NO_COLOR,
      stdoutIsTTY: process.stdout.isTTY === true,
    }),
    secrets: options.secrets?.(config) ?? [],
  });
  logger.info(`starting ${app}`, { config: redactConfig(config) });
  return { config, logger };
}
