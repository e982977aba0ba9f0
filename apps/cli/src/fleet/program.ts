import { Command, CommanderError } from 'commander';
import type { CommandContext } from './context.ts';
import { FLEET_EXIT } from './exit-codes.ts';
import { registerCompletion } from './commands/completion.ts';
import { registerFlags } from './commands/flags.ts';
import { registerKeys } from './commands/keys.ts';
import { registerLogin } from './commands/login.ts';
import { registerRolloutActions } from './commands/rollout-actions.ts';
import { registerRolloutCreate } from './commands/rollout-create.ts';
import { registerRolloutEvents } from './commands/rollout-events.ts';
import { registerRolloutReads } from './commands/rollout-reads.ts';

const LOCAL_HELP = `
Local commands (run from the repository, over DATABASE_URL and REDIS_URL):
  up                 start simulator, api, worker and reconciler (npm start)
  migrate            create the database if needed and apply the migrations
  check-migrations   exit 0 when the migrations produce prisma/schema.prisma
  create-api-key     make an API key in the database (--name, --role, --user-id | --all-accounts)

Exit codes: 0 done (a watched rollout completed with no failure), 1 completed with failures, 2 paused, aborted or
cancelled, 3 usage or input error, 4 API or network error after retries, 5 --timeout reached. See docs/cli.md.`;

/** The `fleet` client commands (docs/cli.md), their usage errors exiting 3. */
function buildProgram(ctx: CommandContext): Command {
  const program = new Command('fleet')
    .description('operate fleet rollouts: create from a file, watch, act, report')
    .option('--profile <name>', 'the profile of the config file (default: FLEET_PROFILE, else "default")')
    .showHelpAfterError('(fleet --help for usage)')
    .configureOutput({ writeOut: (s) => ctx.term.out(s), writeErr: (s) => ctx.term.err(s) })
    .addHelpText('after', LOCAL_HELP)
    .exitOverride();
  registerLogin(program, ctx);
  const rollout = program.command('rollout').description('create, watch, act on and report on rollouts');
  registerRolloutCreate(rollout, ctx);
  registerRolloutReads(rollout, ctx);
  registerRolloutActions(rollout, ctx);
  registerRolloutEvents(rollout, ctx);
  registerFlags(program, ctx);
  registerKeys(program, ctx);
  registerCompletion(program, ctx);
  return program;
}

/** Parses and runs; resolves with the exit code (commander's own errors: 0 for --help, 3 for bad usage). */
export async function runProgram(ctx: CommandContext, argv: readonly string[]): Promise<number> {
  let exitCode = 0;
  const program = buildProgram({
    ...ctx,
    setExitCode: (code) => {
      exitCode = code;
    },
  });
  try {
    await program.parseAsync([...argv], { from: 'user' });
  } catch (error) {
    if (!(error instanceof CommanderError)) throw error;
    return error.code === 'commander.helpDisplayed' || error.code === 'commander.version'
      ? FLEET_EXIT.ok
      : FLEET_EXIT.usage;
  }
  return exitCode;
}
