import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Database } from '@fleet/db';
import { createApiKey, findActiveApiKeyByHash, hashApiKey } from '@fleet/db';

/** Mode of the key file: its owner reads and writes it, nobody else sees it. */
const KEY_FILE_MODE = 0o600;
/** Mode of a directory made for the key file. */
const KEY_DIR_MODE = 0o700;

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
  /** The file's mode was wider than KEY_FILE_MODE and was narrowed. */
  narrowedMode: boolean;
};

async function readKey(file: string): Promise<string | null> {
  try {
    return (await readFile(file, 'utf8')).trim() || null;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
}

/** Writes `content` to `file` with KEY_FILE_MODE from its first byte, through a temporary file renamed over it. */
async function writeSecretFile(file: string, content: string): Promise<void> {
  const dir = path.dirname(file);
  // Only a directory made here gets KEY_DIR_MODE: an existing one (the user's home, /tmp) is not ours to change.
  await mkdir(dir, { recursive: true, mode: KEY_DIR_MODE });
  const temporary = path.join(dir, `.${path.basename(file)}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    await writeFile(temporary, content, { mode: KEY_FILE_MODE, flag: 'wx' });
    await rename(temporary, file);
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
}

/**
 * Makes sure `file` holds a working admin API key for every account, for the quick start (`fleet up`): the one it
 * holds when the database knows it and has not revoked it, else a new one made with createApiKey and written to the
 * file (mode 0600, its directory 0700 when made here). The key itself is never logged or printed: only the file's
 * path is, and the key's prefix.
 */
export async function ensureAdminKeyFile(db: Database, file: string): Promise<AdminKeyFileResult> {
  const present = await readKey(file);
  if (present) {
    const record = await findActiveApiKeyByHash(db, hashApiKey(present));
    if (record && record.role === 'admin' && record.allAccounts) {
      const mode = (await stat(file)).mode & 0o777;
      const narrowedMode = (mode & ~KEY_FILE_MODE) !== 0;
      if (narrowedMode) await chmod(file, KEY_FILE_MODE);
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
