import { FleetApiClient } from '@fleet/api-client';
import type { FleetClientEnv } from './client-env.ts';
import { configFilePath, resolveTarget } from './profiles.ts';
import type { Terminal } from './output.ts';

/** What every client command is handed by main.ts: where it writes, the environment it was given, stdin. */
export type CommandContext = {
  term: Terminal;
  env: FleetClientEnv;
  stdin: NodeJS.ReadStream;
  stdout: NodeJS.WriteStream;
  /** Aborted on the first SIGINT/SIGTERM (a watch stops, never the rollout). */
  signal: AbortSignal;
  /** Sets the exit code the process ends with. */
  setExitCode(code: number): void;
};

export function configFileOf(ctx: CommandContext): string {
  return configFilePath(ctx.env);
}

/** The API client for the profile (or FLEET_URL / FLEET_API_KEY); a retry is said on stderr. */
export async function clientFor(ctx: CommandContext, profile: string | undefined): Promise<FleetApiClient> {
  const target = await resolveTarget(configFileOf(ctx), {
    profile: profile ?? ctx.env.FLEET_PROFILE,
    envUrl: ctx.env.FLEET_URL,
    envKey: ctx.env.FLEET_API_KEY,
  });
  return new FleetApiClient({
    baseUrl: target.url,
    apiKey: target.apiKey,
    userAgent: 'fleet-cli',
    onRetry: ({ request, reason, delayMs }) =>
      ctx.term.err(
        `retrying ${request} (${reason}${delayMs ? `, Retry-After ${Math.round(delayMs / 1000)} s` : ''})\n`,
      ),
  });
}

export async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk)));
  return Buffer.concat(chunks).toString('utf8');
}
