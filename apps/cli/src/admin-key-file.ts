import type { Database } from '@fleet/db';
import { createApiKey, findActiveApiKeyByHash, hashApiKey } from '@fleet/db';
import { narrowSecretFileMode, readSecretFile, writeSecretFile } from './secret-file.ts';

/**
 * What ensureAdminKeyFile did. `reused`: the file held an admin key for every account that the database knows and
 * has not revoked. `created`: there was no file, or its key was unknown, revoked or not such a key, so a new one was
 * made and written over it.
 */
export type AdminKeyFileResult = {
  outcome: 'reused' | 'created';
  file: string;
  /** The key's first characters (`flt_` + 8), fit to log. */
  keyPrefix: string;
  /** The file's mode was wider than 0600 and was narrowed. */
  narrowedMode: boolean;
};

/**
 * Makes sure `file` holds a working admin API key for every account, for the quick start (`fleet up`): the one it
 * holds when the database knows it and has not revoked it, else a new one made with createApiKey and written to the
 * file (mode 0600, its directory 0700 when made here). The key itself is never logged or printed: only the file's
 * path is, and the key's prefix.
 */
export async function ensureAdminKeyFile(db: Database, file: string): Promise<AdminKeyFileResult> {
  const present = await readSecretFile(file);
  if (present) {
    const record = await findActiveApiKeyByHash(db, hashApiKey(present));
    if (record && record.role === 'admin' && record.allAccounts) {
      const narrowedMode = await narrowSecretFileMode(file);
      return { outcome: 'reused', file, keyPrefix: record.keyPrefix, narrowedMode };
    }
  }
  const { record, key } = await createApiKey(db, {
    name: 'fleet up (admin key file)',
    role: 'admin',
    userIds: [],
    allAccounts: true,
    createdById: null,
    by: { actor: { kind: 'system', id: 'fleet-cli' } },
  });
  await writeSecretFile(file, `${key}\n`);
  return { outcome: 'created', file, keyPrefix: record.keyPrefix, narrowedMode: false };
}
