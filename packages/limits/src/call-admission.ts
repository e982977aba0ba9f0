import { randomUUID } from 'node:crypto';
import type { AccountRateLimiter } from './account-rate-limiter.ts';
import { RATE_BUCKET_LUA } from './account-rate-limiter.ts';
import type { GlobalConcurrency } from './global-concurrency.ts';
import { GLOBAL_SLOT_LUA } from './global-concurrency.ts';
import { luaScript } from './lua-script.ts';

/**
 * Both limits a NodeInstall call must pass, in one Redis round trip: a token of the account's rate (the adapted
 * rate, see account-rate-limiter.ts) and a slot of the global cap (see global-concurrency.ts), taken together or
 * not at all. A call refused a slot keeps its token (nothing is spent on a call not made), and a call that must wait
 * for the rate does not take a slot nor count as contending for one. The same buckets and slots as `take` and
 * `tryAcquire`, so workers using either agree.
 *
 * The script answers {1, 0} when admitted, {2, wait ms} when the rate says wait, {3, 0} when the cap (or the fair
 * share) is reached.
 */
const ADMIT = luaScript(`${RATE_BUCKET_LUA}${GLOBAL_SLOT_LUA}
local now, maxRate, burst = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local rate, tokens = refill_tokens(KEYS[1], now, maxRate, burst)
if tokens < 1 then
  save_tokens(KEYS[1], rate, tokens, now)
  return {2, token_wait(rate, tokens)}
end
if acquire_slot(KEYS[2], KEYS[3], KEYS[4], tonumber(ARGV[4]), tonumber(ARGV[9]), tonumber(ARGV[5]), ARGV[6], ARGV[7], tonumber(ARGV[8])) == 0 then
  save_tokens(KEYS[1], rate, tokens, now)
  return {3, 0}
end
save_tokens(KEYS[1], rate, tokens - 1, now)
return {1, 0}
`);

export type Admission =
  /** The call may go: release `slot` (GlobalConcurrency.release) when it is over. */
  | { kind: 'admitted'; slot: string }
  /** The account's rate is used up: ask again in `waitMs`. */
  | { kind: 'rate'; waitMs: number }
  /** Every global slot is taken, or this rollout holds its fair share while another waits. */
  | { kind: 'slot' };

export type CallAdmission = { admit(userId: string, rolloutId: string): Promise<Admission> };

/** Runs on the global limiter's Redis connection; the account buckets must live in the same Redis. */
export function createCallAdmission(limits: { rate: AccountRateLimiter; global: GlobalConcurrency }): CallAdmission {
  const { bucket } = limits.rate;
  const { slots } = limits.global;
  const { redis } = slots;
  return {
    async admit(userId, rolloutId) {
      const token = randomUUID();
      const slotNow = slots.now();
      const [code, wait] = (await ADMIT(
        redis,
        4,
        bucket.key(userId),
        ...slots.keys,
        String(bucket.now()),
        String(bucket.maxRatePerSecond),
        String(bucket.burst),
        String(slots.cap),
        String(slotNow + slots.leaseMs),
        rolloutId,
        token,
        String(slots.fairnessWindowMs),
        String(slotNow),
      )) as [number, number];
      if (code === 1) return { kind: 'admitted', slot: token };
      if (code === 2) return { kind: 'rate', waitMs: wait };
      return { kind: 'slot' };
    },
  };
}
