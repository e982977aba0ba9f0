import { writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { driverOf, INSTANCE_STATES, ROLLOUT_STATUSES } from '@fleet/api-client';
import type { FailureReport, InstanceState, RolloutStatus } from '@fleet/api-client';
import { clientFor } from '../context.ts';
import type { CommandContext } from '../context.ts';
import { parseOutputFormat, printData, renderFields, renderTable } from '../output.ts';
import { oneOf, positiveInt, rolloutId } from '../parse-values.ts';
import { countsText, progressLine } from '../watch/describe.ts';
import { action } from './action.ts';

type ReadOptions = { output: string };
const profileOf = (command: Command): string | undefined => command.optsWithGlobals().profile;

function reportTable(report: FailureReport, id: string): string {
  const lines = [
    `rollout ${id}: ${report.failures.total} failures in ${report.failures.causes} cause${report.failures.causes === 1 ? '' : 's'}`,
  ];
  for (const g of report.failures.groups)
    lines.push(`${String(g.count).padStart(6)}  ${g.cause}`, `        action: ${g.recommendedAction}`);
  return `${lines.join('\n')}\n`;
}

export function registerRolloutReads(rollout: Command, ctx: CommandContext): void {
  const width = () => ctx.term.columns;
  rollout
    .command('list')
    .description('the rollouts the key may see, newest first')
    .option('--status <status>', ROLLOUT_STATUSES.join('|'))
    .option('--user-id <uid>', 'one account')
    .option('--limit <n>', 'most rollouts (1..200)', '50')
    .option('--output <format>', 'table, json or yaml', 'table')
    .action(
      action(ctx, async (o: ReadOptions & { status?: string; userId?: string; limit: string }, command: Command) => {
        const format = parseOutputFormat(o.output);
        const query = {
          limit: positiveInt('--limit', o.limit),
          ...(o.status ? { status: oneOf<RolloutStatus>('--status', o.status, ROLLOUT_STATUSES) } : {}),
          ...(o.userId ? { userId: o.userId } : {}),
        };
        const page = await (await clientFor(ctx, profileOf(command))).listRollouts(query);
        await printData(ctx.term, format, page, () =>
          renderTable(
            page.items,
            [
              { header: 'id', value: (r) => r.id },
              { header: 'status', value: (r) => r.status },
              { header: 'user id', value: (r) => r.userId },
              { header: 'instances', value: (r) => r.totalInstances },
              { header: 'created', value: (r) => r.createdAt },
              { header: 'reason', value: (r) => r.statusReason },
            ],
            width(),
          ),
        );
      }),
    );

  rollout
    .command('get <id>')
    .alias('show')
    .description('one rollout: status, driver, counts, progress, limits')
    .option('--output <format>', 'table, json or yaml', 'table')
    .action(
      action(ctx, async (id: string, o: ReadOptions, command: Command) => {
        const format = parseOutputFormat(o.output);
        const r = await (await clientFor(ctx, profileOf(command))).getRollout(rolloutId(id));
        await printData(ctx.term, format, r, () =>
          renderFields([
            ['rollout', r.id],
            ['status', r.status],
            ['reason', r.statusReason],
            ['user id', r.userId],
            ['driver', driverOf(r)],
            ['counts', countsText(r)],
            ['progress', progressLine(r)],
            ['concurrency', r.concurrency],
            ['parent', r.parentRolloutId],
            ['created', r.createdAt],
            ['finished', r.finishedAt],
          ]),
        );
      }),
    );

  rollout
    .command('instances <id>')
    .description("a rollout's instances")
    .option('--state <state>', INSTANCE_STATES.join('|'))
    .option('--limit <n>', 'most instances (1..1000)', '100')
    .option('--output <format>', 'table, json or yaml', 'table')
    .action(
      action(ctx, async (id: string, o: ReadOptions & { state?: string; limit: string }, command: Command) => {
        const format = parseOutputFormat(o.output);
        const query = {
          limit: positiveInt('--limit', o.limit),
          ...(o.state ? { state: oneOf<InstanceState>('--state', o.state, INSTANCE_STATES) } : {}),
        };
        const page = await (await clientFor(ctx, profileOf(command))).listInstances(rolloutId(id), query);
        await printData(ctx.term, format, page, () =>
          renderTable(
            page.items,
            [
              { header: 'instance', value: (i) => i.instanceId },
              { header: 'state', value: (i) => i.state },
              { header: 'attempts', value: (i) => i.attemptCount },
              { header: 'request id', value: (i) => i.lastRequestId },
              { header: 'manual', value: (i) => i.manualInstallReason },
              {
                header: 'error',
                value: (i) => (i.lastError ? `${i.lastError.code ?? ''} ${i.lastError.message ?? ''}` : null),
              },
            ],
            width(),
          ),
        );
      }),
    );

  rollout
    .command('instance <id> <instanceId>')
    .description('one instance with every attempt and its RequestId')
    .option('--output <format>', 'table, json or yaml', 'table')
    .action(
      action(ctx, async (id: string, instanceId: string, o: ReadOptions, command: Command) => {
        const format = parseOutputFormat(o.output);
        const i = await (await clientFor(ctx, profileOf(command))).getInstance(rolloutId(id), instanceId);
        await printData(
          ctx.term,
          format,
          i,
          () =>
            renderFields([
              ['instance', i.instanceId],
              ['state', i.state],
              ['manual install', i.manualInstallReason],
            ]) +
            renderTable(
              i.attempts,
              [
                { header: '#', value: (a) => a.attemptNo },
                { header: 'started', value: (a) => a.startedAt },
                { header: 'ms', value: (a) => a.durationMs },
                { header: 'http', value: (a) => a.httpStatus },
                { header: 'request id', value: (a) => a.requestId },
                { header: 'outcome', value: (a) => a.outcomeKind ?? a.outcome },
                { header: 'error', value: (a) => (a.errorCode ? `${a.errorCode} ${a.errorMessage ?? ''}` : null) },
              ],
              width(),
            ),
        );
      }),
    );

  rollout
    .command('report <id>')
    .description('the failure report: causes with counts and the recommended action')
    .option('--format <format>', 'table, json or csv', 'table')
    .option('--output <file>', 'write it to this file instead of stdout')
    .option('--all', 'csv: every instance, not only the failures')
    .action(
      action(ctx, async (id: string, o: { format: string; output?: string; all?: boolean }, command: Command) => {
        const format = oneOf('--format', o.format, ['table', 'json', 'csv'] as const);
        const client = await clientFor(ctx, profileOf(command));
        let text: string;
        if (format === 'csv') text = await client.getReportCsv(rolloutId(id), o.all ? 'all' : 'failures');
        else {
          const report = await client.getReport(rolloutId(id));
          text = format === 'json' ? `${JSON.stringify(report, null, 2)}\n` : reportTable(report, id);
        }
        if (o.output) {
          await writeFile(o.output, text);
          ctx.term.err(`wrote ${o.output}\n`);
        } else ctx.term.out(text);
      }),
    );
}
