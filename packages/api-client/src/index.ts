export { FleetApiClient } from './client.ts';
export type { FleetApiClientOptions, FlagAction, RolloutAction } from './client.ts';
export { ApiNetworkError, ApiProblemError } from './errors.ts';
export type { ProblemDocument, ProblemField } from './errors.ts';
export type { RetryOptions, RequestOptions } from './transport.ts';
export { API_ROLES, FLAG_STATUSES, INSTANCE_STATES, ROLLOUT_STATUSES } from './types.ts';
export type * from './types.ts';
export type { SseFrame } from './sse.ts';
