export { stopOnSignal } from './stop-on-signal.ts';
export type { ShutdownLogger, StopOnSignalOptions } from './stop-on-signal.ts';
export { configErrorLine, loadConfigOrExit } from './config-error-exit.ts';
export { EXIT_CODES } from './exit-codes.ts';
export { appLaunchArgs, appNodeOptions } from './app-launch.ts';
export type { FleetApp, RepoApp } from './app-launch.ts';
export { trackHttpServer } from './close-http-server.ts';
export type { ClosableHttpServer } from './close-http-server.ts';
