import { parseArgs } from 'node:util';
import { createDatabase, resealColumns } from '@fleet/db';
import type { ResealColumnResult } from '@fleet/db';
import type { EncryptionSettings } from '@fleet/secrets';
import { SecretUnreadableError, secretBoxFromConfig } from '@fleet/secrets';

/**
 * `rotate-encryption-key`: re-seals every sealed column (packages/db sealed-columns.ts) under FLEET_ENCRYPTION_KEY,
 * opening what older keys sealed with FLEET_ENCRYPTION_PREVIOUS_KEYS. Safe while the apps run (each value is written
 * back with a guard on the value it read, so a concurrent credentials change is never overwritten) and safe to run
 * again (values already under the current key are left alone). Quiet on success; `--output json` prints what it did.
 *
 * Exit codes: 0 done; 1 a value opens under none of the keys (add its key to FLEET_ENCRYPTION_PREVIOUS_KEYS and run
 * again: the values before it are done), or Postgres failed; 2 bad arguments; 78 FLEET_ENCRYPTION_KEY not set.
 */
export const ROTATE_ENCRYPTION_KEY_USAGE = 'usage: fleet rotate-encryption-key [--batch-size <rows>] [--output json]';

export type RotateResult =
  | { kind: 'done'; keyId: string; columns: ResealColumnResult[] }
  | { kind: 'no_key' }
  | { kind: 'unreadable'; message: string };

export function parseRotateArgs(args: readonly string[]): { batchSize: number; json: boolean } {
  const { values } = parseArgs({
    args: [...args],
    options: { 'batch-size': { type: 'string' }, output: { type: 'string' } },
    strict: true,
    allowPositionals: false,
  });
  const batchSize = values['batch-size'] === undefined ? 100 : Number(values['batch-size']);
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 10_000)
    throw new Error(`--batch-size must be a whole number from 1 to 10000; got ${values['batch-size']}`);
  if (values.output !== undefined && values.output !== 'json')
    throw new Error(`--output must be json; got ${values.output}`);
  return { batchSize, json: values.output === 'json' };
}

export async function rotateEncryptionKey(
  databaseUrl: string,
  keys: EncryptionSettings,
  options: { batchSize: number },
): Promise<RotateResult> {
  const box = secretBoxFromConfig(keys);
  if (!box) return { kind: 'no_key' };
  const db = createDatabase({ url: databaseUrl, applicationName: 'fleet-cli:rotate-encryption-key', poolMax: 2 });
  try {
    const columns = await resealColumns(db, box, { batchSize: options.batchSize });
    return { kind: 'done', keyId: box.currentKeyId, columns };
  } catch (error) {
    // The box's message names the key id a value was sealed under, never the value.
    if (error instanceof SecretUnreadableError) return { kind: 'unreadable', message: error.message };
    throw error;
  } finally {
    await db.close();
  }
}
