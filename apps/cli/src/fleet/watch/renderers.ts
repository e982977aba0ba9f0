import { createLogUpdate } from 'log-update';
import type { FleetEvent, Rollout } from '@fleet/api-client';
import { paint } from '../output.ts';
import type { Terminal } from '../output.ts';
import { bar, countsText, eventLine, progressLine } from './describe.ts';

/**
 * The three ways a watch prints. On a terminal: one live block (bar, counts, rate, ETA, wave, the account's rate)
 * redrawn in place by log-update, each event written above it. Without one (CI logs, pipes): a line per event and
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

export function ttyRenderer(term: Terminal, stream: NodeJS.WriteStream): WatchRenderer {
  const live = createLogUpdate(stream, { showCursor: false });
  let last: Rollout | undefined;
  const block = (r: Rollout) => {
    const width = Math.max(10, Math.min(50, (stream.columns ?? 80) - 20));
    const fraction =
      r.progress?.fraction ??
      (r.counts.total === 0 ? 1 : 1 - (r.counts.pending + r.counts.in_progress) / r.counts.total);
    const colour = r.counts.failed > 0 ? 'yellow' : 'green';
    return [
      `${paint(term, colour, bar(fraction, width))} ${Math.floor(fraction * 100)}%  ${paint(term, 'bold', r.id)}`,
      countsText(r),
      progressLine(r),
    ].join('\n');
  };
  return {
    event(event) {
      live.persist(eventLine(event));
      if (last) live(block(last));
    },
    progress(rollout) {
      last = rollout;
      live(block(rollout));
    },
    note(line) {
      live.persist(paint(term, 'dim', line));
      if (last) live(block(last));
    },
    finish(lines) {
      live.done();
      term.out(`${lines.join('\n')}\n`);
    },
  };
}

export function plainRenderer(
  term: Terminal,
  now: () => number = Date.now,
  everyMs = PLAIN_PROGRESS_EVERY_MS,
): WatchRenderer {
  let lastAt = -Infinity;
  let lastLine = '';
  return {
    event(event) {
      term.out(`${eventLine(event)}\n`);
    },
    progress(rollout) {
      const line = progressLine(rollout);
      if (now() - lastAt < everyMs || line === lastLine) return;
      lastAt = now();
      lastLine = line;
      term.out(`${new Date(now()).toISOString().slice(11, 19)} progress ${line}\n`);
    },
    note(line) {
      term.err(`${line}\n`);
    },
    finish(lines) {
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
