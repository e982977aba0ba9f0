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
 * Slots of calls that are over ride along (ARGV[10] on) and are given back first, whatever the answer: see release.
 *
 * The script answers {1, 0} when admitted, {2, wait ms} when the rate says wait, {3, 0} when the cap (or the fair
 * share) is reached.
 */
const ADMIT = luaScript(`${RATE_BUCKET_LUA}${GLOBAL_SLOT_LUA}
for i = 10, #ARGV do release_slot(KEYS[2], KEYS[3], ARGV[i]) end
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
  /** The call may go: give `slot` back (CallAdmission.release) when it is over. */
  | { kind: 'admitted'; slot: string }
  /** The account's rate is used up: ask again in `waitMs`. */
  | { kind: 'rate'; waitMs: number }
  /** Every global slot is taken, or this rollout holds its fair share while another waits. */
  | { kind: 'slot' };

export type CallAdmission = {
  admit(userId: string, rolloutId: string): Promise<Admission>;
  /**
   * Gives an admitted call's slot back once the call is over, without a round trip of its own: the slot rides on
   * this process's next admit (which a finished job's successor makes at once), or leaves by itself after
   * `releaseDelayMs` when no admit comes. Giving back late is on the safe side of the cap: for those few
   * milliseconds the slot still counts as a call in flight. Should the process die first, the lease frees it.
   */
  release(slot: string): void;
  /** Gives back every slot still waiting to be released; resolves once Redis has them. For shutdown, and tests. */
  flush(): Promise<void>;
};

export type CallAdmissionOptions = {
  /** Longest a slot waits for an admit to ride on before it is released by itself, ms. Default 5. */
  releaseDelayMs?: number;
  /** Called when Redis refused a release (the slots are tried again, and their leases run out regardless). */
  onReleaseError?: (error: unknown) => void;
};

/** Runs on the global limiter's Redis connection; the account buckets must live in the same Redis. */
export function createCallAdmission(
  limits: { rate: AccountRateLimiter; global: GlobalConcurrency },
  options: CallAdmissionOptions = {},
): CallAdmission {
  const { bucket } = limits.rate;
  const { slots } = limits.global;
  const { redis } = slots;
  const releaseDelayMs = options.releaseDelayMs ?? 5;
  /** Slots of finished calls not yet given back. */
  let toRelease: string[] = [];
  let timer: NodeJS.Timeout | null = null;
  /**
   * The timer's delay: releaseDelayMs, doubled after each failed release up to a second, so that Redis being away
   * costs a try (and a warning) a second rather than two hundred.
   */
  let retryDelayMs = releaseDelayMs;

  /** Takes the waiting slots for one round trip; on failure they go back to wait for the next. */
  function takeReleases(): string[] {
    const taken = toRelease;
    toRelease = [];
    if (timer) {
      clearTimeout(timer);
      timer = null;
    }
    return taken;
  }
  function putBack(tokens: string[], error: unknown): void {
    options.onReleaseError?.(error);
    retryDelayMs = Math.max(releaseDelayMs, Math.min(1_000, retryDelayMs * 2));
    toRelease.push(...tokens);
    arm();
  }
  function arm(): void {
    if (timer || toRelease.length === 0) return;
    timer = setTimeout(() => void flush(), retryDelayMs);
    timer.unref();
  }
  async function flush(): Promise<void> {
    const tokens = takeReleases();
    if (tokens.length === 0) return;
    try {
      await limits.global.releaseMany(tokens);
      retryDelayMs = releaseDelayMs;
    } catch (error) {
      putBack(tokens, error);
    }
  }

  return {
    async admit(userId, rolloutId) {
      const token = randomUUID();
      const slotNow = slots.now();
      const releasing = takeReleases();
      let answer: [number, number];
      try {
        answer = (await ADMIT(
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
          ...releasing,
        )) as [number, number];
      } catch (error) {
        if (releasing.length > 0) putBack(releasing, error);
        throw error;
      }
      retryDelayMs = releaseDelayMs;
      const [code, wait] = answer;
      if (code === 1) return { kind: 'admitted', slot: token };
      if (code === 2) return { kind: 'rate', waitMs: wait };
      return { kind: 'slot' };
    },
    release(slot) {
      toRelease.push(slot);
      arm();
    },
    flush,
  };
}
