/**
 * fleet: the operator's command. The client commands (login, rollout, flags, keys, completion; docs/cli.md) talk
 * to the API; the local commands (up, migrate, check-migrations, create-api-key, rotate-encryption-key;
 * local-main.ts) run the product
 * from the repository and are handed over before anything else is read, as they always were.
 */
import { loadConfigOrExit } from '@fleet/lifecycle';
import { parseConfig } from '@fleet/config';
import { fleetClientEnvSchema } from './fleet/client-env.ts';
import { runProgram } from './fleet/program.ts';
import type { Terminal } from './fleet/output.ts';

const LOCAL_COMMANDS = ['up', 'migrate', 'check-migrations', 'create-api-key', 'rotate-encryption-key'];
const command = process.argv[2];

if (command !== undefined && LOCAL_COMMANDS.includes(command)) {
  const { runLocalCommand } = await import('./local-main.ts');
  await runLocalCommand(command);
} else {
  const env = loadConfigOrExit('fleet', () => parseConfig(fleetClientEnvSchema, process.env));
  const term: Terminal = {
    out: (text) => process.stdout.write(text),
    err: (text) => process.stderr.write(text),
    columns: process.stdout.isTTY ? process.stdout.columns : undefined,
    stdoutIsTTY: process.stdout.isTTY === true,
    stderrIsTTY: process.stderr.isTTY === true,
    color: process.stdout.isTTY === true && !env.NO_COLOR,
  };
  const stop = new AbortController();
  // The first Ctrl-C stops a watch (which says the rollout goes on); a second one ends the process at once.
  const onSignal = (signal: NodeJS.Signals) => {
    if (stop.signal.aborted) process.exit(130);
    stop.abort(signal);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const code = await runProgram(
    { term, env, stdin: process.stdin, stdout: process.stdout, signal: stop.signal, setExitCode: () => {} },
    process.argv.slice(2),
  );
  // Exit once stdout has drained (a large JSON answer into a pipe), without waiting on anything else.
  process.stdout.write('', () => process.exit(code));
}
