import { randomBytes } from 'node:crypto';
import { encryptionEnv } from '@fleet/config';
import { narrowSecretFileMode, readSecretFile, writeSecretFile } from './secret-file.ts';

/**
 * What ensureEncryptionKeyFile did. `reused`: the file held a key. `created`: there was no file (or only white
 * space), so a new key was made and written. `unusable`: the file holds something that is not a key; it is left as it
 * is (it may be a key mistyped by hand, and a new one would not open what the old one sealed), and `message` says why,
 * without echoing the file's content.
 */
export type EncryptionKeyFileResult =
  | {
      outcome: 'reused' | 'created';
      file: string;
      /** The key as FLEET_ENCRYPTION_KEY takes it: 32 bytes in base64. A secret: hand it to the apps, never log it. */
      key: string;
      /** The file's mode was wider than 0600 and was narrowed. */
      narrowedMode: boolean;
    }
  | { outcome: 'unusable'; file: string; message: string };

/**
 * What `file` holds, without changing it: a key (`found`), nothing (`absent`: no file, or only white space), or
 * something that is not a key (`unusable`, with why, never echoing the content).
 */
type EncryptionKeyFileRead =
  | { outcome: 'found'; file: string; key: string }
  | { outcome: 'absent'; file: string }
  | { outcome: 'unusable'; file: string; message: string };

async function readEncryptionKeyFile(file: string): Promise<EncryptionKeyFileRead> {
  const present = await readSecretFile(file);
  if (!present) return { outcome: 'absent', file };
  // The variable's own rule, so that what the file holds is what the apps accept.
  const parsed = encryptionEnv.FLEET_ENCRYPTION_KEY.safeParse(present);
  if (!parsed.success)
    return { outcome: 'unusable', file, message: parsed.error.issues.map((issue) => issue.message).join('; ') };
  return { outcome: 'found', file, key: present };
}

/**
 * The key the apps seal with, as `fleet up` hands it to them: FLEET_ENCRYPTION_KEY when it is set, else the key of
 * the encryption key file (FLEET_ENCRYPTION_KEY_FILE, default .fleet/encryption-key), which is never made here: a
 * command that reads the current key (rotate-encryption-key) must find the one the apps have, not a new one.
 */
export async function currentEncryptionKey(
  variable: Buffer | undefined,
  file: string,
): Promise<
  { outcome: 'found'; source: 'variable' | 'file'; key: Buffer } | Exclude<EncryptionKeyFileRead, { outcome: 'found' }>
> {
  if (variable !== undefined) return { outcome: 'found', source: 'variable', key: variable };
  const read = await readEncryptionKeyFile(file);
  if (read.outcome !== 'found') return read;
  return { outcome: 'found', source: 'file', key: encryptionEnv.FLEET_ENCRYPTION_KEY.parse(read.key)! };
}

/**
 * Makes sure `file` holds a FLEET_ENCRYPTION_KEY for the quick start (`fleet up` without that variable), so that a
 * fresh clone can store account credentials and webhooks: the key it holds, else 32 new random bytes in base64
 * written to it (mode 0600, its directory 0700 when made here). Every later start reuses it: a new key would not open
 * what the old one sealed.
 */
export async function ensureEncryptionKeyFile(file: string): Promise<EncryptionKeyFileResult> {
  const present = await readEncryptionKeyFile(file);
  if (present.outcome === 'unusable') return present;
  if (present.outcome === 'found')
    return { outcome: 'reused', file, key: present.key, narrowedMode: await narrowSecretFileMode(file) };
  const key = randomBytes(32).toString('base64');
  await writeSecretFile(file, `${key}\n`);
  return { outcome: 'created', file, key, narrowedMode: false };
}
