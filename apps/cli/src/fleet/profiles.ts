import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { UsageError } from './exit-codes.ts';

/**
 * The per-user config file of `fleet login`: a JSON object of profiles, each an API URL and key. Mode 0600 (it holds
 * keys), its directory 0700 when made here; written to a temporary file then renamed, so a crash never leaves half
 * a file.
 *
 *   { "profiles": { "default": { "url": "http://127.0.0.1:3000", "apiKey": "flt_..." } } }
 */
export type Profile = { url: string; apiKey: string };
type ConfigFile = { profiles: Record<string, Profile> };

export const DEFAULT_PROFILE = 'default';

/** FLEET_CONFIG, else $XDG_CONFIG_HOME/fleet/config.json, else ~/.config/fleet/config.json. */
export function configFilePath(env: { FLEET_CONFIG?: string; XDG_CONFIG_HOME?: string; HOME?: string }): string {
  if (env.FLEET_CONFIG) return path.resolve(env.FLEET_CONFIG);
  const base = env.XDG_CONFIG_HOME ?? path.join(env.HOME ?? '.', '.config');
  return path.join(base, 'fleet', 'config.json');
}

async function readConfigFile(file: string): Promise<ConfigFile> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { profiles: {} };
    throw error;
  }
  try {
    const parsed = JSON.parse(text) as Partial<ConfigFile>;
    return { profiles: typeof parsed.profiles === 'object' && parsed.profiles ? parsed.profiles : {} };
  } catch {
    throw new UsageError(`${file} is not JSON: fix or remove it, then run fleet login again`);
  }
}

export async function saveProfile(file: string, name: string, profile: Profile): Promise<void> {
  const config = await readConfigFile(file);
  config.profiles[name] = profile;
  await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  const temporary = `${file}.${process.pid}.tmp`;
  await writeFile(temporary, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
  // The mode of writeFile applies only to a new file: a leftover temporary keeps its own.
  await chmod(temporary, 0o600);
  await rename(temporary, file);
}

/**
 * Where the API is and the key to use: FLEET_URL and FLEET_API_KEY over the profile's (`--profile`, else
 * FLEET_PROFILE, else `default`). Throws a UsageError saying what to run when either is missing.
 */
export async function resolveTarget(
  file: string,
  options: { profile?: string | undefined; envUrl?: string | undefined; envKey?: string | undefined },
): Promise<Profile & { profile: string }> {
  const name = options.profile ?? DEFAULT_PROFILE;
  const needsFile = !(options.envUrl && options.envKey);
  const stored = needsFile ? (await readConfigFile(file)).profiles[name] : undefined;
  if (options.profile && needsFile && !stored)
    throw new UsageError(`no profile "${name}" in ${file}: run fleet login --url <api> --profile ${name}`);
  const url = options.envUrl ?? stored?.url;
  const apiKey = options.envKey ?? stored?.apiKey;
  if (!url || !apiKey)
    throw new UsageError(
      `no API ${url ? 'key' : 'URL'}: run fleet login --url <api>, or set FLEET_URL and FLEET_API_KEY`,
    );
  return { url, apiKey, profile: name };
}
