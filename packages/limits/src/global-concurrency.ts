import { randomUUID } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';
import { globalSlotKeys, limitsEpochKey } from './limits-keys.ts';
import { luaScript } from './lua-script.ts';

/**
 * A cap on NodeInstall calls in flight across every rollout and every worker process, kept in Redis.
 *
 * Slots are leases in a sorted set (member: a unique token, score: expiry), so a worker killed mid-call frees its
 * slots when the lease runs out. Fairness between rollouts: while another rollout was refused a slot within the
 * last `fairnessWindowMs`, a rollout already holding its fair share (cap / contending rollouts) gets no new slot;
 * with nobody waiting, any rollout may use all the free capacity. So two rollouts sharing the cap each get about
 * half, and neither starves.
 */
/** Lua: `release_slot(slots, holders, token)` gives a slot back (1), or finds it already gone (0): idempotent. */
const RELEASE_SLOT_LUA = `
local function release_slot(slots, holders, token)
  if redis.call('zrem', slots, token) == 0 then return 0 end
  local owner = redis.call('hget', holders, token)
  redis.call('hdel', holders, token)
  if owner then
    if redis.call('hincrby', holders, 'count:' .. owner, -1) <= 0 then redis.call('hdel', holders, 'count:' .. owner) end
  end
  return 1
end
`;

/**
 * Lua: `acquire_slot(slots, holders, denied, cap, now, expiry, rollout, token, window)` frees expired leases, then
 * grants a slot (1) or refuses it (0) as described above. Includes release_slot (an expired lease is released like
 * any other). Shared with the call admission script (call-admission.ts).
 */
export const GLOBAL_SLOT_LUA = `${RELEASE_SLOT_LUA}
local function acquire_slot(slots, holders, denied, cap, now, expiry, rollout, token, window)
  for _, t in ipairs(redis.call('zrangebyscore', slots, '-inf', now)) do release_slot(slots, holders, t) end
  redis.call('zremrangebyscore', denied, '-inf', now - window)
  local total = redis.call('zcard', slots)
  local held = tonumber(redis.call('hget', holders, 'count:' .. rollout) or '0')
  local contenders = redis.call('zcard', denied)
  local deniedSelf = redis.call('zscore', denied, rollout)
  if deniedSelf then contenders = contenders - 1 end
  local share = math.ceil(cap / (contenders + 1))
  if total >= cap or (contenders > 0 and held >= share) then
    redis.call('zadd', denied, now, rollout)
    redis.call('pexpire', denied, window * 2)
    return 0
  end
  redis.call('zadd', slots, expiry, token)
  redis.call('hset', holders, token, rollout)
  redis.call('hincrby', holders, 'count:' .. rollout, 1)
  redis.call('zrem', denied, rollout)
  return 1
end
`;

const ACQUIRE = luaScript(`${GLOBAL_SLOT_LUA}
return acquire_slot(KEYS[1], KEYS[2], KEYS[3], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4], ARGV[5], tonumber(ARGV[6]))
`);

/** Releases every token in ARGV; answers how many were still held. */
const RELEASE = luaScript(`${RELEASE_SLOT_LUA}
local released = 0
for i = 1, #ARGV do released = released + release_slot(KEYS[1], KEYS[2], ARGV[i]) end
return released
`);

export type GlobalConcurrencyOptions = {
  /** Key prefix shared by every process of one deployment. */
  prefix: string;
  /** Most calls in flight across all rollouts and workers. Every worker must be given the same value. */
  cap: number;
  /** A slot is freed by itself after this long (ms), in case its holder died. Longer than any call. */
  leaseMs: number;
  /** How long (ms) a refused rollout counts as contending for fairness. Default 2000. */
  fairnessWindowMs?: number;
  now?: () => number;
};

export type GlobalConcurrency = {
  /** Where and how it keeps its slots, for scripts that take a slot together with something else. */
  readonly slots: {
    redis: Redis | Cluster;
    keys: readonly [slots: string, holders: string, denied: string];
    /** Present while the slots are whole (see limits-recovery.ts). */
    epochKey: string;
    cap: number;
    leaseMs: number;
    fairnessWindowMs: number;
    now(): number;
  };
  /** A slot token, or null when the cap (or the fair share) is reached. */
  tryAcquire(rolloutId: string): Promise<string | null>;
  release(token: string): Promise<void>;
  /** Several slots in one round trip (idempotent, like release). */
  releaseMany(tokens: readonly string[]): Promise<void>;
  /** Calls in flight now, over all rollouts. */
  inFlight(): Promise<number>;
  readonly cap: number;
};

export function createGlobalConcurrency(redis: Redis | Cluster, options: GlobalConcurrencyOptions): GlobalConcurrency {
  const now = options.now ?? Date.now;
  const keys = globalSlotKeys(options.prefix);
  const window = options.fairnessWindowMs ?? 2000;
  async function releaseMany(tokens: readonly string[]): Promise<void> {
    if (tokens.length > 0) await RELEASE(redis, 2, keys[0]!, keys[1]!, ...tokens);
  }
  return {
    cap: options.cap,
    slots: {
      redis,
      keys,
      epochKey: limitsEpochKey(options.prefix),
      cap: options.cap,
      leaseMs: options.leaseMs,
      fairnessWindowMs: window,
      now,
    },
    async tryAcquire(rolloutId) {
      const token = randomUUID();
      const t = now();
      const granted = await ACQUIRE(
        redis,
        3,
        ...keys,
        String(options.cap),
        String(t),
        String(t + options.leaseMs),
        rolloutId,
        token,
        String(window),
      );
      return granted === 1 ? token : null;
    },
    release: (token) => releaseMany([token]),
    releaseMany,
    async inFlight() {
      await redis.zremrangebyscore(keys[0]!, '-inf', now());
      return redis.zcard(keys[0]!);
    },
  };
}
