export { createSecretBox, SecretUnreadableError } from './secret-box.ts';
export type { SecretBox } from './secret-box.ts';
export { parseEncryptionKey, EncryptionKeyError, ENCRYPTION_KEY_BYTES } from './encryption-key.ts';
export type { EncryptionKey } from './encryption-key.ts';
export { secretBoxFromConfig } from './from-config.ts';
export type { EncryptionSettings } from './from-config.ts';
