import type { Command } from 'commander';
import { ApiNetworkError, ApiProblemError } from '@fleet/api-client';
import type { FleetApiClient, FleetEvent } from '@fleet/api-client';
import { UsageError } from '../exit-codes.ts';
import { clientFor } from '../context.ts';
import type { CommandContext } from '../context.ts';
import { parseOutputFormat, printData } from '../output.ts';
import type { OutputFormat } from '../output.ts';
import { rolloutId } from '../parse-values.ts';
import { eventLine } from '../watch/describe.ts';
import { sleep } from '../watch/watch-common.ts';
import { action } from './action.ts';

const MAX_RECONNECTS = 6;

/** Every event of the timeline after `after`, page by page (GET /v1/rollouts/:id/events). */
async function timeline(client: FleetApiClient, id: string, after?: string): Promise<FleetEvent[]> {
  const events: FleetEvent[] = [];
  let cursor = after;
  for (;;) {
    const page = await client.listRolloutEvents(id, { limit: 1000, ...(cursor ? { after: cursor } : {}) });
    events.push(...page.items);
    if (!page.nextCursor) return events;
    cursor = page.nextCursor;
  }
}

/**
 * Prints the rollout's events as the live stream sends them (progress frames left out) until the stream ends after
 * the final event, reconnecting after the last id when it drops. Ctrl-C stops it (130).
 */
async function follow(ctx: CommandContext, client: FleetApiClient, id: string, print: (e: FleetEvent) => void) {
  let lastEventId: string | undefined;
  let reconnects = 0;
  for (;;) {
    try {
      const frames = await client.openRolloutStream(id, { lastEventId, signal: ctx.signal });
      if (frames === null) return 0;
      reconnects = 0;
      for await (const frame of frames) {
        if (frame.event === 'progress') continue;
        if (frame.id) lastEventId = frame.id;
        print(JSON.parse(frame.data) as FleetEvent);
      }
      const rollout = await client.getRollout(id);
      if (rollout.status === 'completed' || rollout.status === 'cancelled') return 0;
    } catch (error) {
      if (ctx.signal.aborted) return 130;
      const transient = error instanceof ApiNetworkError || (error instanceof ApiProblemError && error.status === 503);
      if (!transient || reconnects >= MAX_RECONNECTS) throw error;
      reconnects += 1;
      ctx.term.err(`event stream lost (${error.message}); reconnecting\n`);
      await sleep(Math.min(500 * 2 ** (reconnects - 1), 8000), ctx.signal);
    }
  }
}

export function registerRolloutEvents(rollout: Command, ctx: CommandContext): void {
  rollout
    .command('events <id>')
    .description(
      "a rollout's event timeline, oldest first (--follow: as they come, until it completes or is cancelled)",
    )
    .option('--follow', 'keep printing events as they happen (Ctrl-C stops)')
    .option('--output <format>', 'table (one line an event), json (one event a line) or yaml', 'table')
    .action(
      action(ctx, async (id: string, o: { follow?: boolean; output: string }, command: Command) => {
        const format: OutputFormat = parseOutputFormat(o.output);
        if (o.follow && format === 'yaml')
          throw new UsageError('--follow prints lines or JSON lines: --output table or json');
        const client = await clientFor(ctx, command.optsWithGlobals().profile);
        const print = (e: FleetEvent) =>
          ctx.term.out(format === 'json' ? `${JSON.stringify(e)}\n` : `${eventLine(e)}\n`);
        if (o.follow) return follow(ctx, client, rolloutId(id), print);
        const events = await timeline(client, rolloutId(id));
        if (format === 'yaml') await printData(ctx.term, 'yaml', events, () => '');
        else events.forEach(print);
      }),
    );
}
