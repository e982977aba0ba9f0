import { randomUUID } from 'node:crypto';
import type { AccountRateLimiter } from './account-rate-limiter.ts';
import { RATE_SCHEDULE_LUA } from './account-rate-limiter.ts';
import type { GlobalConcurrency } from './global-concurrency.ts';
import { GLOBAL_SLOT_LUA } from './global-concurrency.ts';
import { luaScript } from './lua-script.ts';

/**
 * Both limits a NodeInstall call must pass, in one Redis round trip: a start time on the account's schedule (the
 * adapted rate, see account-rate-limiter.ts) and a slot of the global cap (see global-concurrency.ts), taken
 * together or not at all. The same schedules and slots as `take` and `tryAcquire`, so workers using either agree.
 *
 * A call whose start is at most `maxWaitMs` away is admitted with it: its start is reserved (the schedule moves on)
 * and it takes its slot now, so the slot covers the short wait too and the cap holds for calls in flight whatever
 * happens during the wait. A call refused a slot reserves nothing. A call whose start is further away reserves no
 * start and takes no slot: it is told when to come back (`waitMs`), a place in a queue behind the others told so
 * before it (the schedule's `queue` tail, moved on by one interval per call sent back), minus half the wait bound,
 * so that it returns to a start within the bound rather than to the same answer again. The queue tail costs no
 * quota: it only spaces the returns, and an account whose schedule has run dry forgets it.
 *
 * Slots of calls that are over ride along (ARGV[12] on) and are given back first, whatever the answer: see release.
 *
 * With `limitsLost` set, a call is admitted only while the limits' epoch key is present (KEYS[5]): missing, Redis
 * lost the slots of the calls in flight (restarted without persistence, flushed), and counting from zero would let
 * the cap be passed; the script answers {4, 0}, the call is sent back as for a full cap, and `limitsLost` is told,
 * so that the slots are rebuilt (limits-recovery.ts).
 *
 * The script answers {1, wait ms, the exact wait as text} when admitted (the call starts after waiting that long;
 * Redis would round a Lua number to an integer, and the schedule keeps fractions of a millisecond), {2, ms} when the
 * call must come back later, {3, 0} when the cap (or the fair share) is reached.
 */
const ADMIT = luaScript(`${RATE_SCHEDULE_LUA}${GLOBAL_SLOT_LUA}
for i = 12, #ARGV do release_slot(KEYS[2], KEYS[3], ARGV[i]) end
if ARGV[11] == '1' and redis.call('exists', KEYS[5]) == 0 then return {4, 0} end
local now, maxRate, burst, maxWait = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[10])
local rate, interval, tolerance, tat, wait, queue, lateness = rate_schedule(KEYS[1], now, maxRate, burst)
if wait > maxWait then
  local place = math.max(queue or tat, tat)
  redis.call('hset', KEYS[1], 'queue', place + interval)
  redis.call('pexpire', KEYS[1], 3600000)
  return {2, math.max(1, math.ceil(place - tolerance - now - maxWait / 2))}
end
if acquire_slot(KEYS[2], KEYS[3], KEYS[4], tonumber(ARGV[4]), tonumber(ARGV[9]), tonumber(ARGV[5]), ARGV[6], ARGV[7], tonumber(ARGV[8])) == 0 then
  return {3, 0}
end
save_tat(KEYS[1], tat + interval, queue)
return {1, math.ceil(wait), tostring(wait), tostring(lateness)}
`);

export type Admission =
  /**
   * The call may start in `waitMs` (0: now; counted from when `admit` resolves, the round trip already deducted):
   * give `slot` back (CallAdmission.release) when it is over. `lateMs`: how far past its reserved start the call
   * already is when `admit` resolves (0 unless the round trip, or this process waiting for the CPU, outlasted the
   * start): a call that late, sent at once, would bunch with the calls reserved after it. `startsAtMs`: the start
   * itself, on the schedule's clock (AccountRateLimiter.schedule.now), exactly as reserved: a call sent then keeps
   * its distance to the calls around it to the fraction of a millisecond, where `waitMs` is rounded up.
   * `lateToleranceMs`: how late the call may still be sent for its start (the room the schedule leaves, see
   * LATE_START_BUDGET_MS); later, it would reach the account closer to the calls after it than the rate allows.
   */
  | { kind: 'admitted'; slot: string; waitMs: number; lateMs: number; startsAtMs: number; lateToleranceMs: number }
  /** The account's schedule is full for longer than the wait bound: ask again in `waitMs`, nothing was reserved. */
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
  /**
   * A new start for an admitted call that was too late for its own (see LATE_START_BUDGET_MS), on the schedule's
   * clock: the next on the account's schedule, however far, and no sooner than the start lead, as an admission's.
   * Asked "now" on a schedule nobody waits on, the start would be the moment of asking, already past when the answer
   * comes back; a call of a busy process would then be late for it too, retake again, and after the worker's
   * MAX_START_RETAKES go however late. The call keeps its global slot.
   */
  retakeStart(userId: string): Promise<number>;
};

export type CallAdmissionOptions = {
  /**
   * Longest wait for its start an admitted call is given, ms; a call further from its start is sent back
   * (`rate`) with nothing reserved. It bounds what a reservation left unused costs (a job cancelled or paused during
   * its wait, a process that dies): at most this long of the account's quota. Default 1000.
   */
  maxWaitMs?: number;
  /**
   * Soonest an admitted call's start is, ms from the admission: time for its claim to be written before it (a call
   * admitted to start at once would be late for its start by the claim, and a late call takes a new start). Default 10.
   */
  startLeadMs?: number;
  /** Longest a slot waits for an admit to ride on before it is released by itself, ms. Default 5. */
  releaseDelayMs?: number;
  /** Called when Redis refused a release (the slots are tried again, and their leases run out regardless). */
  onReleaseError?: (error: unknown) => void;
  /**
   * Admit only while the limits are whole (the epoch key present), and call this when they are not: Redis lost them,
   * and the caller rebuilds them (LimitsRecovery.ensure). Without it, admission never looks.
   */
  limitsLost?: () => void;
};

/** Runs on the global limiter's Redis connection; the account buckets must live in the same Redis. */
export function createCallAdmission(
  limits: { rate: AccountRateLimiter; global: GlobalConcurrency },
  options: CallAdmissionOptions = {},
): CallAdmission {
  const { schedule } = limits.rate;
  const maxWaitMs = options.maxWaitMs ?? 1000;
  const startLeadMs = options.startLeadMs ?? 10;
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
      // A start is never sooner than the lead: the claim is written while the call waits for its start, and a call
      // given a start of "now" would be late for it by the claim's round trip.
      const askedAt = schedule.now() + startLeadMs;
      const limits = schedule.limitsOf(userId);
      const releasing = takeReleases();
      let answer: [number, number, string?, string?];
      try {
        answer = (await ADMIT(
          redis,
          5,
          schedule.key(userId),
          ...slots.keys,
          slots.epochKey,
          String(askedAt),
          String(limits.maxRatePerSecond),
          String(limits.burst),
          String(slots.cap),
          String(slotNow + slots.leaseMs),
          rolloutId,
          token,
          String(slots.fairnessWindowMs),
          String(slotNow),
          String(maxWaitMs),
          options.limitsLost ? '1' : '0',
          ...releasing,
        )) as [number, number, string?, string?];
      } catch (error) {
        if (releasing.length > 0) putBack(releasing, error);
        throw error;
      }
      retryDelayMs = releaseDelayMs;
      const [code, wait, exactWait, lateness] = answer;
      // The start is `wait` after the time the script was given: what the round trip took is already waited.
      if (code === 1) {
        const startsAtMs = askedAt + Number(exactWait ?? wait);
        const fromStart = schedule.now() - startsAtMs;
        return {
          kind: 'admitted',
          slot: token,
          waitMs: Math.max(0, Math.ceil(-fromStart)),
          lateMs: Math.max(0, fromStart),
          startsAtMs,
          lateToleranceMs: Number(lateness ?? 1000 / limits.maxRatePerSecond),
        };
      }
      if (code === 2) return { kind: 'rate', waitMs: wait };
      if (code === 4) options.limitsLost?.();
      return { kind: 'slot' };
    },
    release(slot) {
      toRelease.push(slot);
      arm();
    },
    flush,
    retakeStart: (userId) => limits.rate.reserveStart(userId, startLeadMs),
  };
}
