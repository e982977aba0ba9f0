import type { FleetEvent, Rollout } from '@fleet/api-client';
import type { Terminal } from '../output.ts';
import { eventLine, progressLine } from './describe.ts';

/**
 * The ways a watch prints. On a terminal: tty-renderer.ts. Without one (CI logs, pipes): a line per event and
 * a progress line at most every `plainProgressEveryMs`. `--output json`: one JSON object a line.
 */
export type WatchRenderer = {
  event(event: FleetEvent): void;
  progress(rollout: Rollout): void;
  /** A line that is not an event (retrying, stopped watching). */
  note(line: string): void;
  /** Ends the live block and prints the recap. */
  finish(recapLines: string[], recap: unknown): void;
};

/** Default: at most one plain progress line every 10 s. */
const PLAIN_PROGRESS_EVERY_MS = 10_000;

export function plainRenderer(
  term: Terminal,
  now: () => number = Date.now,
  everyMs = PLAIN_PROGRESS_EVERY_MS,
): WatchRenderer {
  let lastAt = -Infinity;
  let printed = '';
  let latest = '';
  const print = () => {
    lastAt = now();
    printed = latest;
    term.out(`${new Date(now()).toISOString().slice(11, 19)} progress ${latest}\n`);
  };
  return {
    event(event) {
      term.out(`${eventLine(event)}\n`);
    },
    progress(rollout) {
      latest = progressLine(rollout);
      if (now() - lastAt >= everyMs && latest !== printed) print();
    },
    note(line) {
      term.err(`${line}\n`);
    },
    finish(lines) {
      // The last figures, whenever the one before was printed: the log ends on where the rollout stood.
      if (latest !== printed) print();
      term.out(`${lines.join('\n')}\n`);
    },
  };
}

export function jsonRenderer(
  term: Terminal,
  now: () => number = Date.now,
  everyMs = PLAIN_PROGRESS_EVERY_MS,
): WatchRenderer {
  let lastAt = -Infinity;
  const line = (value: unknown) => term.out(`${JSON.stringify(value)}\n`);
  return {
    event(event) {
      line(event);
    },
    progress(rollout) {
      if (now() - lastAt < everyMs) return;
      lastAt = now();
      line({
        type: 'progress',
        rolloutId: rollout.id,
        status: rollout.status,
        wave: rollout.wave,
        counts: rollout.counts,
        progress: rollout.progress ?? null,
      });
    },
    note(text) {
      term.err(`${text}\n`);
    },
    finish(_lines, recap) {
      line({ type: 'recap', ...(recap as object) });
    },
  };
}
