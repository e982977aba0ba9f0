import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';

/**
 * The files `fleet up` keeps secrets in for the quick start (the admin API key, the encryption key): read, written and
 * kept to their owner alone.
 */

/** Mode of a secret file: its owner reads and writes it, nobody else sees it. */
const SECRET_FILE_MODE = 0o600;
/** Mode of a directory made for a secret file. */
const SECRET_DIR_MODE = 0o700;

/** The file's text without surrounding white space; null when the file is missing or holds only white space. */
export async function readSecretFile(file: string): Promise<string | null> {
  try {
    return (await readFile(file, 'utf8')).trim() || null;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
}

/** Writes `content` to `file` with SECRET_FILE_MODE from its first byte, through a temporary file renamed over it. */
export async function writeSecretFile(file: string, content: string): Promise<void> {
  const dir = path.dirname(file);
  // Only a directory made here gets SECRET_DIR_MODE: an existing one (the user's home, /tmp) is not ours to change.
  await mkdir(dir, { recursive: true, mode: SECRET_DIR_MODE });
  const temporary = path.join(dir, `.${path.basename(file)}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    await writeFile(temporary, content, { mode: SECRET_FILE_MODE, flag: 'wx' });
    await rename(temporary, file);
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
}

/** Narrows `file` to SECRET_FILE_MODE when others could read or write it; true when it did. */
export async function narrowSecretFileMode(file: string): Promise<boolean> {
  const mode = (await stat(file)).mode & 0o777;
  if ((mode & ~SECRET_FILE_MODE) === 0) return false;
  await chmod(file, SECRET_FILE_MODE);
  return true;
}
