import { reportError } from '../error-output.ts';
import type { CommandContext } from '../context.ts';

/**
 * A command's action: runs it, and on an error prints it as error-output.ts does and sets the exit code it maps to
 * (3 usage, 4 API). An action that returns a number sets that exit code.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- commander hands each action its own argument list
export function action<A extends any[]>(ctx: CommandContext, run: (...args: A) => Promise<number | void>) {
  return async (...args: A): Promise<void> => {
    try {
      const code = await run(...args);
      if (typeof code === 'number') ctx.setExitCode(code);
    } catch (error) {
      ctx.setExitCode(reportError(ctx.term, error));
    }
  };
}
