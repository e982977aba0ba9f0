import { z } from 'zod';

const EXPECTED_KEY = 'expected 32 random bytes in base64, as `openssl rand -base64 32` prints';
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/** One key from its base64 text, or why it is not one (never echoing the key). */
function decodeKey(text: string): Buffer | string {
  if (!BASE64.test(text)) return EXPECTED_KEY;
  const bytes = Buffer.from(text, 'base64');
  return bytes.length === 32 ? bytes : `${EXPECTED_KEY}; got ${bytes.length} bytes`;
}

/**
 * The keys that seal secrets at rest (@fleet/secrets), spelled the same in every app that reads or writes one (api,
 * worker, reconciler, the rotate-encryption-key command).
 *
 * - `FLEET_ENCRYPTION_KEY`: the key new values are sealed with. Unset: nothing can be sealed or opened; the API refuses
 *   to store credentials or webhook secrets and everything else runs.
 * - `FLEET_ENCRYPTION_PREVIOUS_KEYS`: keys being rotated away from, comma separated; they still open what they sealed
 *   and never seal. Set the old key here and the new one above, restart the apps one by one, run
 *   `npm run rotate-encryption-key`, then drop the old key.
 */
export const encryptionEnv = {
  FLEET_ENCRYPTION_KEY: z
    .string()
    .optional()
    .transform((value, context): Buffer | undefined => {
      const text = value?.trim() ?? '';
      if (text === '') return undefined;
      const key = decodeKey(text);
      if (typeof key === 'string') {
        context.addIssue({ code: 'custom', message: key });
        return z.NEVER;
      }
      return key;
    }),
  FLEET_ENCRYPTION_PREVIOUS_KEYS: z
    .string()
    .optional()
    .transform((value, context): Buffer[] => {
      const keys: Buffer[] = [];
      const entries = (value ?? '')
        .split(',')
        .map((entry) => entry.trim())
        .filter(Boolean);
      for (const [index, entry] of entries.entries()) {
        const key = decodeKey(entry);
        if (typeof key === 'string') {
          context.addIssue({ code: 'custom', message: `key ${index + 1} of the list: ${key}` });
          return z.NEVER;
        }
        keys.push(key);
      }
      return keys;
    }),
};
