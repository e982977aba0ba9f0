import type { Command } from 'commander';
import { FleetApiClient } from '@fleet/api-client';
import { UsageError } from '../exit-codes.ts';
import { DEFAULT_PROFILE, saveProfile } from '../profiles.ts';
import { configFileOf, readAll } from '../context.ts';
import type { CommandContext } from '../context.ts';
import { action } from './action.ts';

/** Reads a line from a terminal without echoing it (raw mode); Ctrl-C or Ctrl-D gives up. */
function promptHidden(ctx: CommandContext, question: string): Promise<string> {
  const stdin = ctx.stdin;
  ctx.term.err(question);
  return new Promise((resolve, reject) => {
    let typed = '';
    stdin.setRawMode(true);
    stdin.resume();
    stdin.setEncoding('utf8');
    const finish = (error?: Error) => {
      stdin.setRawMode(false);
      stdin.pause();
      stdin.removeListener('data', onData);
      ctx.term.err('\n');
      if (error) reject(error);
      else resolve(typed);
    };
    const onData = (chunk: string) => {
      for (const c of chunk) {
        if (c === '\r' || c === '\n') return finish();
        if (c === '\u0003' || c === '\u0004') return finish(new UsageError('no key entered'));
        if (c === '\u007f' || c === '\b') typed = typed.slice(0, -1);
        else typed += c;
      }
    };
    stdin.on('data', onData);
  });
}

export function registerLogin(program: Command, ctx: CommandContext): void {
  program
    .command('login')
    .description('store the API URL and a key in the config file (the key from a prompt or stdin, never argv)')
    .requiredOption('--url <api>', 'the API base URL, e.g. http://127.0.0.1:3000')
    .option('--profile <name>', 'the profile to store it as (default: FLEET_PROFILE, else "default")')
    .action(
      action(ctx, async (options: { url: string }, command: Command) => {
        // --profile is also the program's own option, which takes it wherever it is written.
        const profile: string = command.optsWithGlobals().profile ?? ctx.env.FLEET_PROFILE ?? DEFAULT_PROFILE;
        let url: URL;
        try {
          url = new URL(options.url);
        } catch {
          throw new UsageError(`--url must be a URL such as http://127.0.0.1:3000; got ${JSON.stringify(options.url)}`);
        }
        const key = (
          ctx.stdin.isTTY ? await promptHidden(ctx, 'API key: ') : ((await readAll(ctx.stdin)).split('\n')[0] ?? '')
        ).trim();
        if (!/^flt_\S+$/.test(key))
          throw new UsageError('the key must start with flt_ (given on stdin or at the prompt)');
        const baseUrl = url.toString().replace(/\/+$/, '');
        // One read that any role may make proves the URL and the key before they are stored.
        await new FleetApiClient({ baseUrl, apiKey: key, retries: 1 }).listRollouts({ limit: 1 });
        const file = configFileOf(ctx);
        await saveProfile(file, profile, { url: baseUrl, apiKey: key });
        ctx.term.err(
          `logged in to ${baseUrl} as profile "${profile}" (key ${key.slice(0, 12)}..., saved in ${file})\n`,
        );
      }),
    );
}
