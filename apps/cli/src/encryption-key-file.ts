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
 * Makes sure `file` holds a FLEET_ENCRYPTION_KEY for the quick start (`fleet up` without that variable), so that a
 * fresh clone can store account credentials and webhooks: the key it holds, else 32 new random bytes in base64
 * written to it (mode 0600, its directory 0700 when made here). Every later start reuses it: a new key would not open
 * what the old one sealed.
 */
export async function ensureEncryptionKeyFile(file: string): Promise<EncryptionKeyFileResult> {
  const present = await readSecretFile(file);
  if (present) {
    // The variable's own rule, so that what the file holds is what the apps accept.
    const parsed = encryptionEnv.FLEET_ENCRYPTION_KEY.safeParse(present);
    if (!parsed.success)
      return { outcome: 'unusable', file, message: parsed.error.issues.map((issue) => issue.message).join('; ') };
    return { outcome: 'reused', file, key: present, narrowedMode: await narrowSecretFileMode(file) };
  }
  const key = randomBytes(32).toString('base64');
  await writeSecretFile(file, `${key}\n`);
  return { outcome: 'created', file, key, narrowedMode: false };
}
