import type { FleetApiClient } from '@fleet/api-client';
import type { CommandContext } from '../context.ts';
import type { OutputFormat } from '../output.ts';
import { jsonRenderer, plainRenderer } from '../watch/renderers.ts';
import { watchRollout } from '../watch/watch-rollout.ts';

/** Watches with the renderer the output calls for: NDJSON for --output json, the live block on a terminal, else lines. */
export async function runWatch(
  ctx: CommandContext,
  client: FleetApiClient,
  rolloutId: string,
  options: { output: OutputFormat; timeoutMs?: number | undefined; pollMs?: number | undefined },
): Promise<number> {
  const renderer =
    options.output === 'json'
      ? jsonRenderer(ctx.term)
      : ctx.term.stdoutIsTTY
        ? (await import('../watch/tty-renderer.ts')).ttyRenderer(ctx.term, ctx.stdout)
        : plainRenderer(ctx.term);
  if (options.output !== 'json')
    ctx.term.err(`watching rollout ${rolloutId}; Ctrl-C stops watching, never the rollout\n`);
  const result = await watchRollout({
    client,
    rolloutId,
    renderer,
    signal: ctx.signal,
    timeoutMs: options.timeoutMs,
    ...(options.pollMs ? { pollMs: options.pollMs } : {}),
  });
  return result.exitCode;
}
