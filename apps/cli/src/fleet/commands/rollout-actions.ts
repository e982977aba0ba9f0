import type { Command } from 'commander';
import type { RolloutAction } from '@fleet/api-client';
import { UsageError } from '../exit-codes.ts';
import { clientFor } from '../context.ts';
import type { CommandContext } from '../context.ts';
import { parseOutputFormat, printData, renderFields } from '../output.ts';
import { countSpec, decimal, durationMs, percent, positiveInt, rolloutId } from '../parse-values.ts';
import { action } from './action.ts';
import { runWatch } from './run-watch.ts';

const profileOf = (command: Command): string | undefined => command.optsWithGlobals().profile;
const PAST: Record<RolloutAction, string> = { pause: 'paused', resume: 'resumed', cancel: 'cancelled' };

export function registerRolloutActions(rollout: Command, ctx: CommandContext): void {
  for (const verb of ['pause', 'resume', 'cancel'] as const)
    rollout
      .command(`${verb} <id>`)
      .description(`${verb} a rollout`)
      .option('--reason <text>', 'why (shown as its status reason)')
      .option('--output <format>', 'table, json or yaml', 'table')
      .action(
        action(ctx, async (id: string, o: { reason?: string; output: string }, command: Command) => {
          const format = parseOutputFormat(o.output);
          const r = await (await clientFor(ctx, profileOf(command))).changeRollout(rolloutId(id), verb, o.reason);
          await printData(ctx.term, format, r, () =>
            r.changed ? `rollout ${r.id} ${PAST[verb]}\n` : `rollout ${r.id} was already ${r.status}\n`,
          );
        }),
      );

  rollout
    .command('start-now <id>')
    .description('start a scheduled rollout, or one waiting for its maintenance window, at once (once)')
    .option('--output <format>', 'table, json or yaml', 'table')
    .action(
      action(ctx, async (id: string, o: { output: string }, command: Command) => {
        const format = parseOutputFormat(o.output);
        const r = await (await clientFor(ctx, profileOf(command))).startRolloutNow(rolloutId(id));
        await printData(ctx.term, format, r, () =>
          r.changed
            ? `rollout ${r.id} started now (${r.status})\n`
            : `rollout ${r.id} is ${r.status}: nothing to start\n`,
        );
      }),
    );

  rollout
    .command('set <id>')
    .description("change a running or paused rollout's policy (takes effect at once)")
    .option('--concurrency <n|pct>', 'most calls in flight, e.g. 50 or 10%')
    .option('--wave-threshold <pct>', 'success rate a wave needs to start the next')
    .option('--abort-at <pct>', 'abort threshold; "none" removes it')
    .option('--abort-min <n>', 'finished instances before --abort-at applies')
    .option('--max-attempts <n>', 'NodeInstall calls per instance at most')
    .option('--instance-timeout <duration>', 'longest time for one instance; "none" removes it')
    .option('--output <format>', 'table, json or yaml', 'table')
    .action(
      action(ctx, async (id: string, o: Record<string, string | undefined>, command: Command) => {
        const format = parseOutputFormat(o.output ?? 'table');
        const patch: Record<string, unknown> = {};
        if (o.concurrency) patch.concurrency = countSpec('--concurrency', o.concurrency);
        if (o.waveThreshold)
          patch.waveSuccessThresholdPercent = decimal('--wave-threshold', o.waveThreshold.replace(/%$/, ''));
        if (o.abortAt === 'none') patch.abort = null;
        else if (o.abortAt)
          patch.abort = {
            failureThresholdPercent: percent('--abort-at', o.abortAt),
            ...(o.abortMin ? { minFinished: positiveInt('--abort-min', o.abortMin) } : {}),
          };
        if (o.maxAttempts) patch.retry = { maxAttempts: positiveInt('--max-attempts', o.maxAttempts) };
        if (o.instanceTimeout === 'none') patch.instanceTimeoutMs = null;
        else if (o.instanceTimeout) patch.instanceTimeoutMs = durationMs('--instance-timeout', o.instanceTimeout);
        if (Object.keys(patch).length === 0)
          throw new UsageError('name at least one setting to change, e.g. --concurrency 20');
        const r = await (await clientFor(ctx, profileOf(command))).patchRollout(rolloutId(id), patch);
        await printData(ctx.term, format, r, () =>
          renderFields([
            ['rollout', r.id],
            ['status', r.status],
            ['concurrency', r.concurrency],
          ]),
        );
      }),
    );

  rollout
    .command('retry <id>')
    .description("a new rollout of a finished rollout's failed instances")
    .option('--cause <cause>', 'only the failures of this cause, as the report names it')
    .option('--force', 'reinstall where the agent already runs')
    .option('--concurrency <n>', "most calls in flight (default: the original's)")
    .option('--watch', 'watch the new rollout')
    .option('--timeout <duration>', 'with --watch: stop watching after this long (exit 5)')
    .option('--output <format>', 'table, json or yaml', 'table')
    .action(
      action(ctx, async (id: string, o: Record<string, string | boolean | undefined>, command: Command) => {
        const format = parseOutputFormat(String(o.output ?? 'table'));
        const timeoutMs = o.timeout ? durationMs('--timeout', String(o.timeout)) : undefined;
        const body = {
          ...(o.cause ? { cause: String(o.cause) } : {}),
          ...(o.force ? { force: true } : {}),
          ...(o.concurrency ? { concurrency: positiveInt('--concurrency', String(o.concurrency)) } : {}),
        };
        const client = await clientFor(ctx, profileOf(command));
        const r = await client.retryRollout(rolloutId(id), body);
        if (o.watch) return runWatch(ctx, client, r.id, { output: format, timeoutMs });
        await printData(ctx.term, format, r, () =>
          renderFields([
            ['rollout', r.id],
            ['retry of', r.retryOf.rolloutId],
            ['instances', r.retryOf.instances],
            ['cause', r.retryOf.cause],
          ]),
        );
      }),
    );

  rollout
    .command('watch <id>')
    .description('watch a rollout until it completes, pauses or is cancelled (exit codes: docs/cli.md)')
    .option('--timeout <duration>', 'stop watching after this long (exit 5; the rollout goes on)')
    .option('--output <format>', 'table (live) or json (one event a line)', 'table')
    .option('--poll-interval <ms>', 'how often to read the rollout when the API has no event stream, in ms', '1000')
    .action(
      action(
        ctx,
        async (id: string, o: { timeout?: string; output: string; pollInterval: string }, command: Command) => {
          const format = parseOutputFormat(o.output);
          const timeoutMs = o.timeout ? durationMs('--timeout', o.timeout) : undefined;
          const pollMs = positiveInt('--poll-interval', o.pollInterval);
          const client = await clientFor(ctx, profileOf(command));
          return runWatch(ctx, client, rolloutId(id), { output: format, timeoutMs, pollMs });
        },
      ),
    );
}
