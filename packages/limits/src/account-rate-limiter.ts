import type { Redis } from 'ioredis';
import { accountRateKey } from './limits-keys.ts';
import { luaScript } from './lua-script.ts';

/**
 * Requests per second per Alibaba account (UserId), shared by every worker through Redis, because Alibaba
 * throttles per account across all of its keys.
 *
 * A token bucket (rate r, burst b) decides when the next call may go. The rate adapts (AIMD): a `Throttling*`
 * answer halves it (at most once per `decreaseCooldownMs`, so one burst of throttled answers counts once), and
 * every `increaseIntervalMs` without throttling adds `additiveIncrease` back, up to the configured maximum.
 */
/**
 * Lua: `refill_tokens(key, now, maxRate, burst)` reads an account's bucket and returns its rate and its tokens
 * refilled up to now; `save_tokens(key, rate, tokens, now)` writes it back. Shared with the call admission script
 * (call-admission.ts), which takes a token and a global slot in one step.
 */
export const RATE_BUCKET_LUA = `
local function refill_tokens(key, now, maxRate, burst)
  local s = redis.call('hmget', key, 'rate', 'tokens', 'ts')
  local rate = tonumber(s[1]) or maxRate
  if rate > maxRate then rate = maxRate end
  local tokens = tonumber(s[2]) or burst
  local ts = tonumber(s[3]) or now
  local cap = math.min(burst, math.max(1, rate))
  return rate, math.min(cap, tokens + (now - ts) * rate / 1000)
end
local function save_tokens(key, rate, tokens, now)
  redis.call('hset', key, 'rate', rate, 'tokens', tokens, 'ts', now)
  redis.call('pexpire', key, 3600000)
end
local function token_wait(rate, tokens)
  return math.ceil((1 - tokens) * 1000 / rate)
end
`;

const TAKE = luaScript(`${RATE_BUCKET_LUA}
local key = KEYS[1]
local now, maxRate, burst = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local rate, tokens = refill_tokens(key, now, maxRate, burst)
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
else
  wait = token_wait(rate, tokens)
end
save_tokens(key, rate, tokens, now)
return wait
`);

const ADAPT = luaScript(`
local key = KEYS[1]
local now, maxRate, minRate, kind = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
local step, interval, cooldown = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local s = redis.call('hmget', key, 'rate', 'changed')
local rate = tonumber(s[1]) or maxRate
local changed = tonumber(s[2]) or 0
if kind == 'throttled' then
  if now - changed >= cooldown then
    rate = math.max(minRate, rate / 2)
    redis.call('hset', key, 'rate', rate, 'changed', now)
  end
elseif rate < maxRate and now - changed >= interval then
  rate = math.min(maxRate, rate + step)
  redis.call('hset', key, 'rate', rate, 'changed', now)
end
redis.call('pexpire', key, 3600000)
return tostring(rate)
`);

export type AccountRateLimiterOptions = {
  prefix: string;
  /** Requests per second per account when nothing is throttled. */
  maxRatePerSecond: number;
  /** The rate never adapts below this, requests per second. Default 1. */
  minRatePerSecond?: number;
  /** Calls that may go at once after a quiet spell. Default 1 (smooth, no bursts). */
  burst?: number;
  /** Requests per second added back per interval without throttling. Default maxRate / 50 (at least 1). */
  additiveIncrease?: number;
  /** ms between additive increases. Default 1000. */
  increaseIntervalMs?: number;
  /** ms during which further throttled answers do not halve the rate again (answers to calls sent before the last
   * decrease say nothing new). Default 200. */
  decreaseCooldownMs?: number;
  /**
   * ms during which further successes of an account are not reported to Redis again by this limiter: the rate only
   * grows once per `increaseIntervalMs` anyway, so a report per call would cost a round trip each and change
   * nothing. Throttled answers are always reported. Default 100.
   */
  successReportIntervalMs?: number;
  now?: () => number;
};

export type AccountRateLimiter = {
  /** Where and how it keeps its buckets, for scripts that take a token together with something else. */
  readonly bucket: { key(userId: string): string; maxRatePerSecond: number; burst: number; now(): number };
  /** Takes a token: 0 when the call may go now, else the ms to wait before asking again. */
  take(userId: string): Promise<number>;
  onThrottled(userId: string): Promise<number>;
  onSuccess(userId: string): Promise<number>;
  /** The account's current adapted rate, requests per second. */
  currentRate(userId: string): Promise<number>;
  readonly maxRatePerSecond: number;
};

export function createAccountRateLimiter(redis: Redis, options: AccountRateLimiterOptions): AccountRateLimiter {
  const now = options.now ?? Date.now;
  const key = (userId: string) => accountRateKey(options.prefix, userId);
  const max = options.maxRatePerSecond;
  const successReportIntervalMs = options.successReportIntervalMs ?? 100;
  /** Per account: when this limiter last reported a success, and the rate Redis answered. */
  const lastSuccessReport = new Map<string, { at: number; rate: number }>();
  const adapt = async (userId: string, kind: 'throttled' | 'success') =>
    Number(
      await ADAPT(
        redis,
        1,
        key(userId),
        String(now()),
        String(max),
        String(options.minRatePerSecond ?? 1),
        kind,
        String(options.additiveIncrease ?? Math.max(1, max / 50)),
        String(options.increaseIntervalMs ?? 1000),
        String(options.decreaseCooldownMs ?? 200),
      ),
    );
  const burst = options.burst ?? 1;
  return {
    maxRatePerSecond: max,
    bucket: { key, maxRatePerSecond: max, burst, now },
    async take(userId) {
      return Number(await TAKE(redis, 1, key(userId), String(now()), String(max), String(burst)));
    },
    async onThrottled(userId) {
      lastSuccessReport.delete(userId);
      return adapt(userId, 'throttled');
    },
    async onSuccess(userId) {
      const t = now();
      const last = lastSuccessReport.get(userId);
      if (last && t >= last.at && t - last.at < successReportIntervalMs) return last.rate;
      const rate = await adapt(userId, 'success');
      if (lastSuccessReport.size >= 10_000) lastSuccessReport.clear();
      lastSuccessReport.set(userId, { at: t, rate });
      return rate;
    },
    async currentRate(userId) {
      const rate = await redis.hget(key(userId), 'rate');
      return rate === null ? max : Math.min(max, Number(rate));
    },
  };
}
