import { instanceIdsWithFate } from '@fleet/cms-simulator';

/** The accounts the e2e tests use (the operator key has both, the viewer key the first). */
export const USER_ID = '1234567898765432';
export const OTHER_USER_ID = '2345678987654321';
export const CONSOLE_STACK_SEED = 'fleet-console-seed';
/** The simulator's share of hosts without the agent (their NodeInstall always fails). */
export const CONSOLE_FAILURE_RATE = 0.3;

/** `count` instance ids the simulator lets succeed (`ok`) or always fails (`fail`), tagged so files do not collide. */
export function idsWithFate(tag: string, count: number, fate: 'ok' | 'fail'): string[] {
  return instanceIdsWithFate({ seed: CONSOLE_STACK_SEED, failureRate: CONSOLE_FAILURE_RATE, tag }, count, fate);
}
