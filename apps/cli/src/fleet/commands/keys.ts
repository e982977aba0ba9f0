import type { Command } from 'commander';
import { API_ROLES } from '@fleet/api-client';
import type { ApiRole, CreateApiKeyBody } from '@fleet/api-client';
import { UsageError } from '../exit-codes.ts';
import { clientFor } from '../context.ts';
import type { CommandContext } from '../context.ts';
import { parseOutputFormat, printData, renderTable } from '../output.ts';
import { oneOf } from '../parse-values.ts';
import { action } from './action.ts';

const profileOf = (command: Command): string | undefined => command.optsWithGlobals().profile;

export function registerKeys(program: Command, ctx: CommandContext): void {
  const keys = program.command('keys').description('API keys (admin)');
  keys
    .command('create')
    .description('make an API key; it is printed once, alone on stdout')
    .requiredOption('--name <name>', 'what the key is for')
    .requiredOption('--role <role>', API_ROLES.join('|'))
    .option('--user-id <uid...>', 'the accounts it may act for')
    .option('--all-accounts', 'every account')
    .option('--output <format>', 'table (the key alone) or json', 'table')
    .action(
      action(
        ctx,
        async (
          o: { name: string; role: string; userId?: string[]; allAccounts?: boolean; output: string },
          command: Command,
        ) => {
          const format = parseOutputFormat(o.output);
          const role = oneOf<ApiRole>('--role', o.role, API_ROLES);
          if (!o.allAccounts === !o.userId)
            throw new UsageError('give --user-id <uid...> or --all-accounts (one of them)');
          const body: CreateApiKeyBody = o.allAccounts
            ? { name: o.name, role, allAccounts: true }
            : { name: o.name, role, userIds: o.userId! };
          const created = await (await clientFor(ctx, profileOf(command))).createApiKey(body);
          await printData(ctx.term, format, created, () => `${created.key}\n`);
          ctx.term.err(
            `made API key ${created.id} (${created.keyPrefix}...), role ${created.role}: shown this once, store it now\n`,
          );
        },
      ),
    );
  keys
    .command('list')
    .description('the keys this admin may manage (never a key itself)')
    .option('--output <format>', 'table, json or yaml', 'table')
    .action(
      action(ctx, async (o: { output: string }, command: Command) => {
        const format = parseOutputFormat(o.output);
        const page = await (await clientFor(ctx, profileOf(command))).listApiKeys();
        await printData(ctx.term, format, page, () =>
          renderTable(
            page.items,
            [
              { header: 'id', value: (k) => k.id },
              { header: 'name', value: (k) => k.name },
              { header: 'prefix', value: (k) => k.keyPrefix },
              { header: 'role', value: (k) => k.role },
              { header: 'accounts', value: (k) => (k.allAccounts ? 'all' : k.userIds.join(' ')) },
              { header: 'revoked', value: (k) => k.revokedAt },
            ],
            ctx.term.columns,
          ),
        );
      }),
    );
  keys
    .command('revoke <id>')
    .description('revoke a key at once')
    .action(
      action(ctx, async (id: string, _o: unknown, command: Command) => {
        await (await clientFor(ctx, profileOf(command))).revokeApiKey(id);
        ctx.term.err(`revoked API key ${id}\n`);
      }),
    );
}
