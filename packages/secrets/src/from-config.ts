import { keyIdOf, type EncryptionKey } from './encryption-key.ts';
import { createSecretBox, type SecretBox } from './secret-box.ts';

/** The parsed `encryptionEnv` of @fleet/config (the keys as bytes). */
export type EncryptionSettings = {
  FLEET_ENCRYPTION_KEY?: Buffer | undefined;
  FLEET_ENCRYPTION_PREVIOUS_KEYS?: readonly Buffer[] | undefined;
};

const keyOf = (bytes: Buffer): EncryptionKey => Object.freeze({ id: keyIdOf(bytes), bytes });

/** The app's secret box, or undefined when FLEET_ENCRYPTION_KEY is not set (nothing secret can be stored then). */
export function secretBoxFromConfig(settings: EncryptionSettings): SecretBox | undefined {
  if (settings.FLEET_ENCRYPTION_KEY === undefined) return undefined;
  return createSecretBox({
    current: keyOf(settings.FLEET_ENCRYPTION_KEY),
    previous: (settings.FLEET_ENCRYPTION_PREVIOUS_KEYS ?? []).map(keyOf),
  });
}
