export { z } from 'zod';
export { parseConfig, redactConfig } from './parse-config.ts';
export { env } from './env-fields.ts';
export type { LogFormatSetting } from './env-fields.ts';
export { LOCAL_DEFAULTS, checkRedisTopology, cmsClientEnv, redisEnv } from './local-defaults.ts';
export { logEnv, storeEnv } from './service-env.ts';
export { encryptionEnv } from './encryption-env.ts';
export { webhookEnv } from './webhook-env.ts';
