import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { driverOf, INSTALL_DRIVERS } from '@fleet/api-client';
import type { CreateRolloutBody, CreatedRollout, InstallDriver, RolloutPlan } from '@fleet/api-client';
import { UsageError } from '../exit-codes.ts';
import { badIdsError, parseInstanceFile } from '../instance-file.ts';
import { clientFor, readAll } from '../context.ts';
import type { CommandContext } from '../context.ts';
import { parseOutputFormat, printData, renderFields } from '../output.ts';
import type { OutputFormat } from '../output.ts';
import { countSpec, countSpecList, decimal, durationMs, oneOf, percent, positiveInt } from '../parse-values.ts';
import { action } from './action.ts';
import { runWatch } from './run-watch.ts';

type CreateOptions = {
  userId: string;
  file?: string;
  force?: boolean;
  driver?: string;
  concurrency?: string;
  waves?: string;
  canary?: string;
  growth?: string;
  waveThreshold?: string;
  abortAt?: string;
  abortMin?: string;
  maxAttempts?: string;
  instanceTimeout?: string;
  timeout?: string;
  idempotencyKey?: string;
  dryRun?: boolean;
  watch?: boolean;
  output: string;
  pollInterval?: string;
};

/** The POST body from the flags (the ids aside); every value checked here so a bad one sends nothing. */
function createBody(options: CreateOptions, instanceIds: string[]): CreateRolloutBody {
  if (!/^\d{16}$/.test(options.userId))
    throw new UsageError(`--user-id must be the 16-digit account UserId; got ${JSON.stringify(options.userId)}`);
  if (options.waves && options.canary)
    throw new UsageError('--waves and --canary are two ways to plan waves: give one');
  if (options.growth && !options.canary) throw new UsageError('--growth goes with --canary');
  if (options.abortMin && !options.abortAt) throw new UsageError('--abort-min goes with --abort-at');
  const body: CreateRolloutBody = { userId: options.userId, instanceIds };
  if (options.force) body.force = true;
  if (options.driver !== undefined) body.driver = oneOf<InstallDriver>('--driver', options.driver, INSTALL_DRIVERS);
  if (options.concurrency) body.concurrency = countSpec('--concurrency', options.concurrency);
  if (options.waves) body.waves = { sizes: countSpecList('--waves', options.waves) };
  if (options.canary)
    body.waves = {
      canary: countSpec('--canary', options.canary),
      growthFactor: options.growth ? decimal('--growth', options.growth) : 2,
    };
  if (options.waveThreshold)
    body.waveSuccessThresholdPercent = decimal('--wave-threshold', options.waveThreshold.replace(/%$/, ''));
  if (options.abortAt)
    body.abort = {
      failureThresholdPercent: percent('--abort-at', options.abortAt),
      ...(options.abortMin ? { minFinished: positiveInt('--abort-min', options.abortMin) } : {}),
    };
  if (options.maxAttempts) body.retry = { maxAttempts: positiveInt('--max-attempts', options.maxAttempts) };
  if (options.instanceTimeout) body.instanceTimeoutMs = durationMs('--instance-timeout', options.instanceTimeout);
  return body;
}

async function readInstanceIds(ctx: CommandContext, source: string): Promise<string[]> {
  const name = source === '-' ? '<stdin>' : source;
  let text: string;
  try {
    text = source === '-' ? await readAll(ctx.stdin) : await readFile(source, 'utf8');
  } catch (error) {
    throw new UsageError(`cannot read ${name}: ${(error as Error).message}`);
  }
  const parsed = parseInstanceFile(name, text);
  if (parsed.bad.length > 0) throw badIdsError(name, parsed.bad);
  return parsed.instanceIds;
}

async function printCreated(ctx: CommandContext, format: OutputFormat, rollout: CreatedRollout): Promise<void> {
  await printData(ctx.term, format, rollout, () =>
    renderFields([
      ['rollout', rollout.id],
      ['status', rollout.status],
      ['driver', driverOf(rollout)],
      ['instances', rollout.counts.total],
      ['duplicates removed', rollout.duplicatesRemoved],
      ['concurrency', rollout.concurrency],
      ['waves', rollout.wave.count],
    ]),
  );
}

/** A dry run's plan: what would be made, at which limits, and how long it should take (docs/cli.md). */
async function printPlan(ctx: CommandContext, format: OutputFormat, plan: RolloutPlan): Promise<void> {
  const { instances, limits, estimate } = plan;
  const waves = plan.waves.map((w) => w.size);
  await printData(ctx.term, format, plan, () =>
    renderFields([
      ['dry run', 'nothing was created'],
      ['instances', instances.accepted],
      ['duplicates removed', instances.duplicatesRemoved],
      ['refused', instances.refused],
      [
        'waves',
        waves.length <= 8
          ? `${waves.length}: ${waves.join(', ')}`
          : `${waves.length}: ${waves.slice(0, 8).join(', ')}, ...`,
      ],
      ['concurrency', `${limits.concurrency} (asked ${String(limits.concurrencySpec)})`],
      ['global concurrency', limits.globalConcurrency ?? 'unknown (no worker yet)'],
      ['account rate', `${estimate.accountRatePerSecond}/s (${estimate.rateSource})`],
      ['call latency', `${estimate.callLatencyMs} ms (${estimate.latencySource}, ${estimate.latencySamples} calls)`],
      ['estimate', `${estimate.seconds} s`],
      ['formula', estimate.formula],
    ]),
  );
}

export function registerRolloutCreate(rollout: Command, ctx: CommandContext): void {
  rollout
    .command('create')
    .description('create a rollout from a file of instance ids (text, CSV or JSON; - for stdin)')
    .argument('[source]', '- to read the ids from stdin')
    .requiredOption('--user-id <uid>', 'the 16-digit account UserId')
    .option('--file <path>', 'the instance ids: one a line, a CSV with instance_id/InstanceId, or JSON; - for stdin')
    .option('--force', 'reinstall where the agent already runs')
    .option(
      '--driver <driver>',
      `the install action: ${INSTALL_DRIVERS.join(' or ')} (InstallMonitoringAgent, 10 hosts a call; default node-install)`,
    )
    .option('--concurrency <n|pct>', 'most calls in flight, e.g. 50 or 10%')
    .option('--waves <sizes>', 'wave sizes, e.g. 1,5,20% (the last repeats)')
    .option('--canary <n|pct>', 'a canary wave, then each wave --growth times the last')
    .option('--growth <factor>', 'growth factor of the waves after --canary (default 2)')
    .option('--wave-threshold <pct>', 'a wave starts the next only at or above this success rate (default 90)')
    .option('--abort-at <pct>', 'cancel the rest once this share of finished instances failed')
    .option('--abort-min <n>', 'finished instances before --abort-at applies (default 10)')
    .option('--max-attempts <n>', 'NodeInstall calls per instance at most (default 4)')
    .option('--instance-timeout <duration>', 'longest time for one instance, e.g. 10m')
    .option('--timeout <duration>', 'with --watch: stop watching after this long (exit 5; the rollout goes on)')
    .option('--idempotency-key <key>', 'the same key twice makes one rollout (default: a new one per command)')
    .option('--dry-run', 'print the plan (waves, limits, estimate) and create nothing')
    .option('--watch', 'watch it until it completes, pauses or is cancelled')
    .option('--output <format>', 'table, json or yaml', 'table')
    .option(
      '--poll-interval <ms>',
      'with --watch: how often to read the rollout when the API has no event stream, in ms',
      '1000',
    )
    .action(
      action(ctx, async (source: string | undefined, options: CreateOptions, command: Command) => {
        const output = parseOutputFormat(options.output);
        if (options.dryRun && options.watch) throw new UsageError('--dry-run creates nothing to --watch: give one');
        if (source !== undefined && source !== '-')
          throw new UsageError(
            `unexpected argument ${JSON.stringify(source)}: give the ids with --file <path> or - for stdin`,
          );
        const file = options.file ?? source;
        if (file === undefined) throw new UsageError('give the instance ids with --file <path>, or - to read stdin');
        if (options.file !== undefined && source !== undefined) throw new UsageError('give --file or -, not both');
        const timeoutMs = options.timeout ? durationMs('--timeout', options.timeout) : undefined;
        if (timeoutMs !== undefined && !options.watch) throw new UsageError('--timeout goes with --watch');
        const pollMs = positiveInt('--poll-interval', options.pollInterval ?? '1000');
        createBody(options, ['i-check']); // flags first: a bad flag is said before a large file is read
        const body = createBody(options, await readInstanceIds(ctx, file));
        const client = await clientFor(ctx, command.optsWithGlobals().profile);
        if (options.dryRun) return printPlan(ctx, output, await client.planRollout(body, { signal: ctx.signal }));
        const created = await client.createRollout(body, {
          idempotencyKey: options.idempotencyKey ?? `fleet-cli-${randomUUID()}`,
          signal: ctx.signal,
        });
        if (!options.watch) return printCreated(ctx, output, created);
        ctx.term.err(`created rollout ${created.id} (${created.counts.total} instances)\n`);
        return runWatch(ctx, client, created.id, { output, timeoutMs, pollMs });
      }),
    );
}
