import type { Cluster, Redis } from 'ioredis';
import { accountRateKey } from './limits-keys.ts';
import { luaScript } from './lua-script.ts';

/**
 * Requests per second per Alibaba account (UserId), shared by every worker through Redis, because Alibaba
 * throttles per account across all of its keys.
 *
 * Calls are scheduled, not refused: a generic cell rate algorithm (GCRA, virtual scheduling) keeps the account's
 * theoretical arrival time `tat` in Redis, the time at which the next call would be on schedule. A call asking at
 * `now` may start at `max(now, tat - tolerance)` (tolerance `(burst - 1) * interval`, so a quiet account may send
 * `burst` calls at once), and moves `tat` on by one interval (`1000 / rate` ms). Calls in any one second thus never
 * exceed rate + burst, and an account with calls waiting sends at exactly its rate, whoever asks.
 *
 * The rate adapts: a `Throttling*` answer halves it, once per reaction: not again within `decreaseCooldownMs`, nor for
 * an answer to a call whose start was reserved before the last decrease (`onThrottled`'s `reservedAtMs`): up to the
 * admission's wait bound of calls were spaced at the old rate when it fell, and their throttled answers say nothing
 * of the new one (counted, one burst halved the rate five times over in a second, from 100 to under 2). The rate
 * it was throttled at is kept as the account's `ceiling`. Every `increaseIntervalMs` without throttling the rate
 * grows: below 0.95 of the ceiling by half the distance to it (at least `additiveIncrease`), so it is back close
 * to what the account took within a few seconds; from there by `additiveIncrease`, doubled at each further step
 * without throttling (at most 32 times), so that a quota raised or lifted is found in seconds, not minutes, and
 * one still at the ceiling costs one halving. Up to the configured maximum. Every schedule step reads the rate in
 * force, so the spacing follows at once.
 *
 * Each account may have its own maximum and burst (`limitsOf`, from the account's settings; default the limiter's),
 * given with every step, so a change applies from the next call. An adapted rate is stored with the maximum it was
 * adapted under (`max`): under a new maximum it keeps its share of it (a throttled account at half its old limit runs
 * at half its new one) instead of climbing back from the old value at a fiftieth of the maximum a second.
 */
/**
 * How late a call may be sent for its reserved start, at most, ms: the schedule leaves room for it. A process's timers
 * fire a millisecond or more after their time, later when its CPU is busy, so a call is never sent exactly at its
 * start. Sent `d` late, it can share a second with the calls reserved up to `d` after that second: with `k` calls in
 * the budget's length (`k = max(1, floor(budget * rate / 1000))`), the schedule spaces calls at `rate + 1 - k` a
 * second, so that rate + burst holds in every second for the calls as sent, not only as scheduled; a call later than
 * `k` intervals (less a millisecond) takes a new start (the worker's late start). Below 200 calls a second `k` is 1
 * and the schedule runs at the rate itself (the call may be up to one interval late); at 500 it runs at 496, at
 * 5,000 at 4,951.
 */
export const LATE_START_BUDGET_MS = 10;

/**
 * Lua: `rate_schedule(key, now, maxRate, burst)` reads an account's schedule and answers its rate, the interval
 * between calls (ms, see LATE_START_BUDGET_MS), the tolerance (ms), `tat` (never before now), how long a call asking
 * now waits for its start (ms, 0: at once), the queue tail of calls told to come back later (false when there is none
 * worth keeping: an account whose `tat` is past has nobody scheduled, so any queue it had is stale), and how late a
 * call may be sent for its start (ms). `save_tat(key, tat, queue)` writes the moved-on `tat` back, and drops the queue
 * tail when it was stale. Shared with the call admission script (call-admission.ts), which schedules a call and takes
 * a global slot in one step.
 */
export const RATE_SCHEDULE_LUA = `
local function adapted_rate(stored, storedMax, maxRate)
  if not stored then return maxRate end
  if storedMax and storedMax > 0 and storedMax ~= maxRate then stored = stored * maxRate / storedMax end
  return math.min(stored, maxRate)
end
local function rate_schedule(key, now, maxRate, burst)
  local s = redis.call('hmget', key, 'rate', 'tat', 'queue', 'max')
  local rate = adapted_rate(tonumber(s[1]), tonumber(s[4]), maxRate)
  local late = math.max(1, math.floor(${LATE_START_BUDGET_MS} * rate / 1000))
  local interval = 1000 / (rate + 1 - late)
  local tolerance = (math.min(burst, math.max(1, rate)) - 1) * interval
  local stored = tonumber(s[2]) or now
  local tat = math.max(stored, now)
  local queue = false
  if stored > now then queue = tonumber(s[3]) or false end
  -- A millisecond less than the room: the workers' clocks read whole milliseconds, and tat's sums drift a little.
  return rate, interval, tolerance, tat, math.max(0, tat - tolerance - now), queue, math.max(interval / 2, late * interval - 1)
end
local function save_tat(key, tat, queue)
  redis.call('hset', key, 'tat', tat)
  if not queue then redis.call('hdel', key, 'queue') end
  redis.call('pexpire', key, 3600000)
end
`;

/** 0 and the call scheduled now; else the ms until it would be on schedule, and nothing changed. */
const TAKE = luaScript(`${RATE_SCHEDULE_LUA}
local key = KEYS[1]
local now, maxRate, burst = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local rate, interval, tolerance, tat, wait, queue = rate_schedule(key, now, maxRate, burst)
if wait > 0 then return math.ceil(wait) end
save_tat(key, tat + interval, queue)
return 0
`);

/**
 * The next start on the schedule, whatever its distance, reserved: answers the ms until it, rounded up, and exactly
 * (as text: Redis turns a Lua number into an integer, and a start reserved between two milliseconds must be kept
 * where it is, or calls bunch by the rounding).
 */
const RESERVE = luaScript(`${RATE_SCHEDULE_LUA}
local key = KEYS[1]
local now, maxRate, burst = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local rate, interval, tolerance, tat, wait, queue = rate_schedule(key, now, maxRate, burst)
save_tat(key, tat + interval, queue)
return {math.ceil(wait), tostring(wait)}
`);

/**
 * `adapt(key, now, max, min, kind, step, interval, cooldown, reservedAt)`: see the top of this module. The hash keeps
 * `rate`, `changed` (its last change), `max` (the maximum it was adapted under), `ceiling` (the rate last throttled
 * at, under the same maximum), `decreased` (the last decrease) and `probe` (steps since reaching the ceiling).
 * `reservedAt` -1: the answer's call has no reserved start (a status check, a pre-check), only the cooldown applies.
 */
const ADAPT = luaScript(`${RATE_SCHEDULE_LUA}
local key = KEYS[1]
local now, maxRate, minRate, kind = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
local step, interval, cooldown = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local reservedAt = tonumber(ARGV[8])
local s = redis.call('hmget', key, 'rate', 'changed', 'max', 'ceiling', 'decreased', 'probe')
local rate = adapted_rate(tonumber(s[1]), tonumber(s[3]), maxRate)
local ceiling = tonumber(s[4])
if ceiling then ceiling = adapted_rate(ceiling, tonumber(s[3]), maxRate) end
local changed = tonumber(s[2]) or 0
local decreased = tonumber(s[5]) or 0
local probe = tonumber(s[6]) or 0
if kind == 'throttled' then
  if now - decreased >= cooldown and (reservedAt < 0 or reservedAt >= decreased) then
    redis.call('hset', key, 'rate', math.max(minRate, rate / 2), 'changed', now, 'max', maxRate, 'ceiling', rate,
      'decreased', now, 'probe', 0)
    rate = math.max(minRate, rate / 2)
  end
elseif rate < maxRate and now - changed >= interval then
  local target = ceiling and math.min(maxRate, ceiling * 0.95)
  if target and rate + step < target then
    rate = math.min(target, math.max(rate + step, rate + (target - rate) / 2))
  else
    probe = math.min(probe + 1, 6)
    rate = math.min(maxRate, rate + step * 2 ^ (probe - 1))
  end
  redis.call('hset', key, 'rate', rate, 'changed', now, 'max', maxRate, 'probe', probe)
  if ceiling then redis.call('hset', key, 'ceiling', ceiling) end
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
  /** Calls that may go at once after a quiet spell (the GCRA tolerance, in calls). Default 1 (smooth, no bursts). */
  burst?: number;
  /**
   * An account's own maximum (requests per second) and burst, read at every step (synchronously: the caller keeps
   * them, see @fleet/accounts). Default: maxRatePerSecond and burst for every account.
   */
  limitsOf?: (userId: string) => { maxRatePerSecond: number; burst: number };
  /**
   * Requests per second added back per interval without throttling, at least (more below the ceiling, doubling above
   * it: see the top of this module). Default maxRate / 50 (at least 1).
   */
  additiveIncrease?: number;
  /** ms between increases. Default 1000. */
  increaseIntervalMs?: number;
  /**
   * ms after a decrease during which further throttled answers do not halve the rate again, whatever their calls'
   * reserved starts (a burst of answers with none, from status checks or pre-checks, counts once). Default 200.
   */
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
  /** Where and how it keeps its schedules, for scripts that schedule a call together with something else. */
  readonly schedule: {
    key(userId: string): string;
    /** The account's maximum rate and burst now. */
    limitsOf(userId: string): { maxRatePerSecond: number; burst: number };
    now(): number;
  };
  /**
   * Schedules a call only if it may start now: 0 when it was (the schedule moved on), else the ms until one could,
   * with nothing reserved. Call admission (call-admission.ts) reserves a later start instead.
   */
  take(userId: string): Promise<number>;
  /**
   * Reserves the next start on the schedule however far it is, and answers the ms until it. For a call that must
   * be made and missed its reserved start (see the worker's late start): sending it late would bunch it with the
   * calls after it, so it takes a new start and its old one goes unused.
   */
  reserve(userId: string): Promise<number>;
  /**
   * As reserve, answering the start itself on the schedule's clock (`schedule.now()`), to the fraction of a
   * millisecond the schedule keeps: a call sent at exactly its start keeps the account's spacing. The start is no
   * sooner than `leadMs` (default 0) after the ask: on a schedule with nobody waiting it would otherwise be the
   * moment of asking, which the answer's round trip has already passed.
   */
  reserveStart(userId: string, leadMs?: number): Promise<number>;
  /**
   * A `Throttling*` answer: halves the rate unless it already fell for this burst (see the top of this module).
   * `reservedAtMs`: when the answered call's start was reserved, on the schedule's clock (`schedule.now()`); an answer
   * to a call reserved before the last decrease does not decrease again. Without it, only the cooldown applies.
   */
  onThrottled(userId: string, reservedAtMs?: number): Promise<number>;
  onSuccess(userId: string): Promise<number>;
  /** The account's current adapted rate, requests per second. */
  currentRate(userId: string): Promise<number>;
  /** The default maximum (accounts without limits of their own). */
  readonly maxRatePerSecond: number;
};

export function createAccountRateLimiter(
  redis: Redis | Cluster,
  options: AccountRateLimiterOptions,
): AccountRateLimiter {
  const now = options.now ?? Date.now;
  const key = (userId: string) => accountRateKey(options.prefix, userId);
  const max = options.maxRatePerSecond;
  const burst = options.burst ?? 1;
  const limitsOf = options.limitsOf ?? (() => ({ maxRatePerSecond: max, burst }));
  const successReportIntervalMs = options.successReportIntervalMs ?? 100;
  /** Per account: when this limiter last reported a success, and the rate Redis answered. */
  const lastSuccessReport = new Map<string, { at: number; rate: number }>();
  const adapt = async (userId: string, kind: 'throttled' | 'success', reservedAtMs = -1) => {
    const accountMax = limitsOf(userId).maxRatePerSecond;
    return Number(
      await ADAPT(
        redis,
        1,
        key(userId),
        String(now()),
        String(accountMax),
        String(Math.min(accountMax, options.minRatePerSecond ?? 1)),
        kind,
        String(options.additiveIncrease ?? Math.max(1, accountMax / 50)),
        String(options.increaseIntervalMs ?? 1000),
        String(options.decreaseCooldownMs ?? 200),
        String(reservedAtMs),
      ),
    );
  };
  const step = (script: typeof TAKE, userId: string, at = now()) => {
    const limits = limitsOf(userId);
    return script(redis, 1, key(userId), String(at), String(limits.maxRatePerSecond), String(limits.burst));
  };
  return {
    maxRatePerSecond: max,
    schedule: { key, limitsOf, now },
    async take(userId) {
      return Number(await step(TAKE, userId));
    },
    async reserve(userId) {
      const [waitMs] = (await step(RESERVE, userId)) as [number, string];
      return Number(waitMs);
    },
    async reserveStart(userId, leadMs = 0) {
      const askedAt = now() + leadMs;
      const [, exactWaitMs] = (await step(RESERVE, userId, askedAt)) as [number, string];
      return askedAt + Number(exactWaitMs);
    },
    async onThrottled(userId, reservedAtMs) {
      lastSuccessReport.delete(userId);
      return adapt(userId, 'throttled', reservedAtMs);
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
      const accountMax = limitsOf(userId).maxRatePerSecond;
      const [rate, adaptedUnder] = await redis.hmget(key(userId), 'rate', 'max');
      if (rate === null) return accountMax;
      const share = adaptedUnder === null ? Number(rate) : (Number(rate) * accountMax) / Number(adaptedUnder);
      return Math.min(accountMax, share);
    },
  };
}
