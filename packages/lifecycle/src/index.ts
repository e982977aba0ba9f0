export { stopOnSignal } from './stop-on-signal.ts';
export type { ShutdownLogger, StopOnSignalOptions } from './stop-on-signal.ts';
export { appLaunchArgs, appNodeOptions } from './app-launch.ts';
export type { FleetApp, RepoApp } from './app-launch.ts';
