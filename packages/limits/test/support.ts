import type { Redis } from 'ioredis';
import type { CallAdmissionOptions } from '../src/index.ts';
import { createAccountRateLimiter, createCallAdmission, createGlobalConcurrency } from '../src/index.ts';

/** An account rate, a global cap (leases of a minute) and the admission over both, under `prefix`, on `clock`. */
export function createLimits(
  redis: Redis,
  prefix: string,
  clock: { now: number },
  options: { cap: number; rate: number; burst: number; admission: CallAdmissionOptions },
) {
  const now = () => clock.now;
  const rate = createAccountRateLimiter(redis, { prefix, maxRatePerSecond: options.rate, burst: options.burst, now });
  const global = createGlobalConcurrency(redis, { prefix, cap: options.cap, leaseMs: 60_000, now });
  return { rate, global, admission: createCallAdmission({ rate, global }, options.admission) };
}
