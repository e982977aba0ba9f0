import { LOCAL_DEFAULTS, z } from '@fleet/config';
import type { EndpointAllowlist } from './endpoint-allowlist.ts';
import { parseEndpointAllowlist } from './endpoint-allowlist.ts';

/** Alibaba's endpoints and the local simulator (its default port, by both of its local names). */
export const DEFAULT_ENDPOINT_ALLOWLIST = `*.aliyuncs.com,127.0.0.1:${LOCAL_DEFAULTS.simulatorPort},localhost:${LOCAL_DEFAULTS.simulatorPort}`;

/**
 * CMS_ENDPOINT_ALLOWLIST, spelled and checked the same in every app that reads it (api, worker, reconciler): the
 * host patterns an account's `endpoint` must match (endpoint-allowlist.ts), comma separated.
 */
export const endpointAllowlistEnv = {
  CMS_ENDPOINT_ALLOWLIST: z
    .string()
    .default(DEFAULT_ENDPOINT_ALLOWLIST)
    .transform((text, context): EndpointAllowlist => {
      try {
        return parseEndpointAllowlist(text);
      } catch (error) {
        context.addIssue({ code: 'custom', message: (error as Error).message });
        return z.NEVER;
      }
    }),
};
