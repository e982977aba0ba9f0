import { InstanceFileError, parseInstanceFile as parseFile } from '@fleet/api-client';
import type { BadInstanceId, InstanceFile } from '@fleet/api-client';
import { UsageError } from './exit-codes.ts';

/**
 * The instance ids of `fleet rollout create --file`, read by @fleet/api-client's parser (the console reads uploads
 * with the same one): an unreadable file is a usage error (exit 3), and the bad ids are listed with their lines.
 */
export { detectFormat } from '@fleet/api-client';

/** How many bad ids are listed one by one; the rest are counted. */
const LISTED_BAD_IDS = 20;

export function parseInstanceFile(name: string, text: string): InstanceFile {
  try {
    return parseFile(name, text);
  } catch (error) {
    if (error instanceof InstanceFileError) throw new UsageError(error.message);
    throw error;
  }
}

/** The lines that say which ids are bad, for stderr. */
function badIdLines(name: string, bad: readonly BadInstanceId[]): string[] {
  const lines = bad.slice(0, LISTED_BAD_IDS).map((b) => `  ${name}:${b.line}: ${JSON.stringify(b.value.slice(0, 80))}`);
  if (bad.length > LISTED_BAD_IDS) lines.push(`  ... and ${bad.length - LISTED_BAD_IDS} more`);
  return lines;
}

export function badIdsError(name: string, bad: readonly BadInstanceId[]): UsageError {
  return new UsageError(
    `${name}: ${bad.length} bad instance id${bad.length === 1 ? '' : 's'} (an ECS id is "i-" and lowercase letters ` +
      'and digits); nothing was sent',
    badIdLines(name, bad),
  );
}
