import type { Command } from 'commander';
import { FLAG_STATUSES } from '@fleet/api-client';
import type { FlagAction, FlagStatus } from '@fleet/api-client';
import { UsageError } from '../exit-codes.ts';
import { reportError } from '../error-output.ts';
import { clientFor } from '../context.ts';
import type { CommandContext } from '../context.ts';
import { parseOutputFormat, printData, renderTable } from '../output.ts';
import { oneOf, positiveInt } from '../parse-values.ts';
import { action } from './action.ts';

const profileOf = (command: Command): string | undefined => command.optsWithGlobals().profile;
const VERBS: Record<string, FlagAction> = { ack: 'acknowledge', resolve: 'resolve', close: 'close' };

export function registerFlags(program: Command, ctx: CommandContext): void {
  const flags = program.command('flags').description('manual-install flags: hosts that need a person');
  flags
    .command('list')
    .description('flags across rollouts')
    .option('--status <status>', FLAG_STATUSES.join('|'))
    .option('--rollout <id>', 'flags raised in this rollout')
    .option('--user-id <uid>', 'one account')
    .option('--limit <n>', 'most flags (1..1000)', '100')
    .option('--output <format>', 'table, json or yaml', 'table')
    .action(
      action(
        ctx,
        async (
          o: { status?: string; rollout?: string; userId?: string; limit: string; output: string },
          command: Command,
        ) => {
          const format = parseOutputFormat(o.output);
          const query = {
            limit: positiveInt('--limit', o.limit),
            ...(o.status ? { status: oneOf<FlagStatus>('--status', o.status, FLAG_STATUSES) } : {}),
            ...(o.rollout ? { rolloutId: o.rollout } : {}),
            ...(o.userId ? { userId: o.userId } : {}),
          };
          const page = await (await clientFor(ctx, profileOf(command))).listFlags(query);
          await printData(ctx.term, format, page, () =>
            renderTable(
              page.items,
              [
                { header: 'id', value: (f) => f.id },
                { header: 'status', value: (f) => f.status },
                { header: 'instance', value: (f) => f.instanceId },
                { header: 'reason', value: (f) => f.reason },
                { header: 'request id', value: (f) => f.lastRequestId },
                { header: 'action', value: (f) => f.recommendedAction },
              ],
              ctx.term.columns,
            ),
          );
        },
      ),
    );

  for (const [verb, move] of Object.entries(VERBS))
    flags
      .command(`${verb} <flagId...>`)
      .description(
        `${move} one or more flags${verb === 'resolve' ? ' (--note required: the agent was installed by hand)' : ''}`,
      )
      .option('--note <text>', verb === 'resolve' ? 'what was done (required)' : 'a note')
      .action(
        action(ctx, async (ids: string[], o: { note?: string }, command: Command) => {
          if (verb === 'resolve' && !o.note)
            throw new UsageError('fleet flags resolve needs --note saying what was done');
          const client = await clientFor(ctx, profileOf(command));
          let worst = 0;
          // Each flag on its own: one refused move (409) does not stop the others; the exit code says one failed.
          for (const id of ids) {
            try {
              const flag = await client.moveFlag(id, move, o.note);
              ctx.term.out(`flag ${flag.id} (${flag.instanceId}) ${flag.status}\n`);
            } catch (error) {
              worst = Math.max(worst, reportError(ctx.term, error));
            }
          }
          return worst;
        }),
      );
}
