export { createAccountClients } from './account-clients.ts';
export type { AccountCalling, AccountClients, AccountClientsDeps, AccountLimits } from './account-clients.ts';
export { AccountUnusableError } from './account-unusable-error.ts';
export type { AccountUnusableCode } from './account-unusable-error.ts';
export { describeAllowlist, endpointRefusal, parseEndpointAllowlist } from './endpoint-allowlist.ts';
export type { EndpointAllowlist, EndpointPattern } from './endpoint-allowlist.ts';
export { DEFAULT_ENDPOINT_ALLOWLIST, endpointAllowlistEnv } from './endpoint-allowlist-env.ts';
