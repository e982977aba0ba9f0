import type { FleetApiClient, Rollout } from '@fleet/api-client';
import type { FleetExitCode } from '../exit-codes.ts';
import { buildRecap, exitCodeOf, recapLines } from './recap.ts';
import type { WatchOutcome } from './recap.ts';
import type { WatchRenderer } from './renderers.ts';

export type WatchOptions = {
  client: FleetApiClient;
  rolloutId: string;
  renderer: WatchRenderer;
  /** How often the rollout is read when there is no event stream to read, in ms. Default 1000. */
  pollMs?: number;
  /** Stop watching (exit 5) after this many ms; the rollout goes on. Default: no limit. */
  timeoutMs?: number | undefined;
  /** Aborted on Ctrl-C: the watch stops, never the rollout. */
  signal: AbortSignal;
};

export type WatchResult = {
  outcome: WatchOutcome | 'interrupted';
  exitCode: FleetExitCode | 130;
  rollout: Rollout | undefined;
};

/** 128 + SIGINT, as a shell reports a program Ctrl-C ended. */
const INTERRUPTED_EXIT = 130;

export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

/** The recap (with the failure report's causes when some failed), printed by the renderer, and the exit code. */
export async function finishWatch(
  options: WatchOptions,
  rollout: Rollout,
  outcome: WatchOutcome,
): Promise<WatchResult> {
  const report =
    rollout.counts.failed > 0 ? await options.client.getReport(rollout.id, { instancesPerGroup: 0 }) : undefined;
  const recap = buildRecap(rollout, outcome, report);
  options.renderer.finish(recapLines(recap), recap);
  return { outcome, exitCode: exitCodeOf(outcome), rollout };
}

export function interrupted(options: WatchOptions, rollout: Rollout | undefined): WatchResult {
  const id = options.rolloutId;
  options.renderer.note(`stopped watching; rollout ${id} goes on (fleet rollout watch ${id} to watch again)`);
  return { outcome: 'interrupted', exitCode: INTERRUPTED_EXIT, rollout };
}
