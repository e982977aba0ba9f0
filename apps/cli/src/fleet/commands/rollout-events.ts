import type { Command } from 'commander';
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

/** Prints the timeline's new events every second until the rollout is completed or cancelled; Ctrl-C stops (130). */
async function follow(ctx: CommandContext, client: FleetApiClient, id: string, print: (e: FleetEvent) => void) {
  let after: string | undefined;
  for (;;) {
    const rollout = await client.getRollout(id);
    const events = await timeline(client, id, after);
    events.forEach(print);
    if (events.length > 0) after = events[events.length - 1]!.id;
    if (rollout.status === 'completed' || rollout.status === 'cancelled') return 0;
    await sleep(1000, ctx.signal);
    if (ctx.signal.aborted) return 130;
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
