export { createGlobalConcurrency } from './global-concurrency.ts';
export type { GlobalConcurrency, GlobalConcurrencyOptions } from './global-concurrency.ts';
export { createAccountRateLimiter } from './account-rate-limiter.ts';
export type { AccountRateLimiter, AccountRateLimiterOptions } from './account-rate-limiter.ts';
export { readLimitsInForce } from './limits-view.ts';
export type { LimitsInForce } from './limits-view.ts';
export { createCallAdmission } from './call-admission.ts';
export type { Admission, CallAdmission, CallAdmissionOptions } from './call-admission.ts';
