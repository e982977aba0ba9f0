import { ApiNetworkError, ApiProblemError } from '@fleet/api-client';
import { FLEET_EXIT, UsageError } from './exit-codes.ts';
import type { FleetExitCode } from './exit-codes.ts';
import { paint } from './output.ts';
import type { Terminal } from './output.ts';

/**
 * What a failed command prints on stderr and the code it exits with: an API problem as its title, detail and each
 * field at fault (never raw JSON) with the request id; a network error with where it was going; a usage error with
 * its lines. Nothing printed here can hold the API key: the errors of @fleet/api-client never carry it.
 */
export function reportError(term: Terminal, error: unknown): FleetExitCode {
  const red = (s: string) => paint({ ...term, color: term.color && term.stderrIsTTY }, 'red', s);
  if (error instanceof UsageError) {
    term.err(`${red('error:')} ${error.message}\n`);
    for (const line of error.lines) term.err(`${line}\n`);
    return FLEET_EXIT.usage;
  }
  if (error instanceof ApiProblemError) {
    term.err(`${red('error:')} ${error.title} (${error.status} ${error.code})\n`);
    if (error.detail) term.err(`  ${error.detail}\n`);
    for (const field of error.errors) {
      const where = field.in && field.in !== 'body' ? ` (${field.in})` : '';
      term.err(`  - ${field.field}${where}: ${field.message}\n`);
    }
    term.err(`  request: ${error.request}${error.requestId ? `, request id ${error.requestId}` : ''}\n`);
    return FLEET_EXIT.api;
  }
  if (error instanceof ApiNetworkError) {
    const tries = error.attempts === 1 ? '1 try' : `${error.attempts} tries`;
    term.err(`${red('error:')} could not reach the API: ${error.message} (${error.request}, ${tries})\n`);
    return FLEET_EXIT.api;
  }
  throw error;
}
