import { createSimulator } from '@fleet/cms-simulator';
import { redactConfig } from '@fleet/config';
import { loadConfigOrExit, stopOnSignal } from '@fleet/lifecycle';
import { chooseLogOutput, createLogger } from '@fleet/logger';
import { loadConfig, simulatorOptionsFrom } from './config.ts';

/** The CMS API simulator as a process: the only place that reads the environment and handles signals. */
async function main(): Promise<void> {
  const config = loadConfigOrExit('simulator', () => loadConfig(process.env));

  const logger = createLogger({
    service: 'simulator',
    level: config.logLevel,
    ...chooseLogOutput({
      format: config.logFormat,
      noColor: config.noColor,
      stdoutIsTTY: process.stdout.isTTY === true,
    }),
    secrets: [
      config.accessKeySecret,
      ...config.accounts.flatMap((a) => [a.accessKeySecret, ...(a.securityToken ? [a.securityToken] : [])]),
    ],
  });
  // The accounts are shown by key id and owner only: their secrets and tokens never reach a log line.
  const { accounts, ...shown } = config;
  logger.info('configuration', {
    config: {
      ...redactConfig(shown),
      accounts: accounts.map((a) => ({ accessKeyId: a.accessKeyId, userId: a.userId })),
    },
  });

  const simulator = createSimulator({ ...simulatorOptionsFrom(config), logger });
  try {
    const { url } = await simulator.start(config.port, config.host);
    logger.info('simulator ready', { url, stats: `${url}_sim/stats` });
  } catch (error) {
    logger.error('simulator could not start', { error, port: config.port, host: config.host });
    process.exitCode = 1;
    return;
  }

  // Nothing else holds the event loop, so the process ends by itself once the server is closed.
  stopOnSignal({ name: 'simulator', logger, stop: () => simulator.stop(), end: 'drain' });
}

await main();
