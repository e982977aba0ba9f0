import { createLogUpdate } from 'log-update';
import type { Rollout } from '@fleet/api-client';
import { paint } from '../output.ts';
import type { Terminal } from '../output.ts';
import { bar, countsText, eventLine, progressLine } from './describe.ts';
import type { WatchRenderer } from './renderers.ts';

/**
 * The watch on a terminal: one live block (bar, counts, rate, ETA, wave, the account's rate) redrawn in place by
 * log-update, each event written above it (persisted, then the block drawn again below). Loaded only on a terminal.
 */
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
