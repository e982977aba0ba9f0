import type { Command } from 'commander';
import { UsageError } from '../exit-codes.ts';
import type { CommandContext } from '../context.ts';
import { action } from './action.ts';

/** The words that may follow each command path: `''` (fleet) -> its commands, `rollout` -> create, list, ... */
function completionTable(program: Command): Map<string, string[]> {
  const table = new Map<string, string[]>();
  const walk = (command: Command, path: string) => {
    const subs = command.commands.map((c) => c.name());
    const options = command.options.flatMap((o) => (o.long ? [o.long] : []));
    table.set(path, [...subs, ...options]);
    for (const sub of command.commands) walk(sub, path ? `${path} ${sub.name()}` : sub.name());
  };
  walk(program, '');
  return table;
}

function bash(table: Map<string, string[]>): string {
  const cases = [...table].map(([path, words]) => `    "${path}") words="${words.join(' ')}" ;;`).join('\n');
  return `# fleet completion for bash: eval "$(fleet completion bash)" (or save it under bash-completion's directory)
_fleet() {
  local path="" word
  for word in "\${COMP_WORDS[@]:1:COMP_CWORD-1}"; do
    case "$word" in -*) ;; *) [ -n "$path" ] && path="$path $word" || path="$word" ;; esac
  done
  local words=""
  case "$path" in
${cases}
  esac
  COMPREPLY=($(compgen -W "$words" -- "\${COMP_WORDS[COMP_CWORD]}"))
}
complete -o default -F _fleet fleet
`;
}

function zsh(table: Map<string, string[]>): string {
  return `#compdef fleet
# fleet completion for zsh: eval "$(fleet completion zsh)" (after compinit)
autoload -U +X bashcompinit && bashcompinit
${bash(table)}`;
}

function fish(table: Map<string, string[]>): string {
  const lines = ['# fleet completion for fish: fleet completion fish | source', 'complete -c fleet -f'];
  for (const [path, words] of table) {
    const parts = path.split(' ').filter(Boolean);
    const condition =
      parts.length === 0 ? '__fish_use_subcommand' : `__fish_seen_subcommand_from ${parts[parts.length - 1]}`;
    for (const word of words.filter((w) => !w.startsWith('-')))
      lines.push(`complete -c fleet -n '${condition}' -a ${word}`);
    for (const word of words.filter((w) => w.startsWith('--')))
      lines.push(`complete -c fleet -n '${condition}' -l ${word.slice(2)}`);
  }
  return `${lines.join('\n')}\n`;
}

export function registerCompletion(program: Command, ctx: CommandContext): void {
  program
    .command('completion <shell>')
    .description('print the shell completion script: bash, zsh or fish')
    .action(
      action(ctx, async (shell: string) => {
        const table = completionTable(program);
        if (shell === 'bash') ctx.term.out(bash(table));
        else if (shell === 'zsh') ctx.term.out(zsh(table));
        else if (shell === 'fish') ctx.term.out(fish(table));
        else throw new UsageError(`completion: the shell must be bash, zsh or fish; got ${JSON.stringify(shell)}`);
      }),
    );
}
