import type { CmsClientOptions } from './cms-client-types.ts';
import type { HttpMethod, SignatureVersion } from './request-params.ts';

/**
 * The CMS_* settings an app parses from its environment (the schema is `cmsClientEnv` of @fleet/config), as this
 * package reads them: it never sees the environment itself.
 */
export type CmsClientSettings = {
  readonly CMS_ENDPOINT: string;
  readonly CMS_ACCESS_KEY_ID: string;
  readonly CMS_ACCESS_KEY_SECRET: string;
  readonly CMS_SECURITY_TOKEN?: string | undefined;
  /** Deadline of one call, in ms. */
  readonly CMS_TIMEOUT_MS: number;
  readonly CMS_METHOD: HttpMethod;
  /** How calls are signed: `v1` (RPC HMAC-SHA1) or `v3` (ACS3-HMAC-SHA256). */
  readonly CMS_SIGNATURE_VERSION: SignatureVersion;
};

/** The options for `createCmsClient` from an app's CMS_* settings; a security token only when set. */
export function cmsClientOptions(settings: CmsClientSettings): CmsClientOptions {
  return {
    endpoint: settings.CMS_ENDPOINT,
    credentials: {
      accessKeyId: settings.CMS_ACCESS_KEY_ID,
      accessKeySecret: settings.CMS_ACCESS_KEY_SECRET,
      ...(settings.CMS_SECURITY_TOKEN ? { securityToken: settings.CMS_SECURITY_TOKEN } : {}),
    },
    timeoutMs: settings.CMS_TIMEOUT_MS,
    method: settings.CMS_METHOD,
    signatureVersion: settings.CMS_SIGNATURE_VERSION,
  };
}
