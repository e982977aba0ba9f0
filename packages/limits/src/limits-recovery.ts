import { randomUUID } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';
import { globalSlotKeys, limitsEpochKey, limitsRecoveryLockKey } from './limits-keys.ts';
import { luaScript } from './lua-script.ts';

/**
 * Rebuilding the global cap's slots after Redis lost them (restarted without persistence, flushed, failed over to a
 * replica that had not yet received them), from what the system of record knows.
 *
 * The slots are the cap's only count of calls in flight. Counted again from zero while calls admitted before the loss
 * are still running, the cap would let as many new calls start again (the simulator saw 31 calls in flight for a cap
 * of 30). So admissions that require it (CallAdmission `limitsLost`) take no slot while the epoch key is missing, and
 * whoever notices first rebuilds:
 *
 * 1. takes the recovery lock (one process per deployment rebuilds; the others keep waiting for the epoch);
 * 2. waits `settleMs`, longer than an admitted call can wait for its start and be claimed: every call admitted before
 *    the loss is then either claimed in Postgres or will not be made. It also lets every start reserved before the
 *    loss pass, so the account schedules, lost with the slots and begun again, do not bunch new calls with old ones;
 * 3. reads the calls in flight (`callsInFlight`: claimed, unfinished, not yet presumed dead) and puts a slot back for
 *    each, held by its rollout, leased until the call would be presumed dead;
 * 4. sets the epoch, and admissions go on.
 *
 * A rebuilt slot is named after its attempt (`attempt:<id>`) and is freed when its lease ends: its worker gives back
 * the token it was admitted with, which Redis no longer has. Read after the settle, only calls slower than it are
 * still running, so few slots are rebuilt; each costs the cap one slot until the call would be presumed dead (the
 * safe side: for that long it counts as a call in flight).
 */
export type CallInFlight = { attemptId: bigint; rolloutId: string; ageMs: number };

export type LimitsRecoveryOptions = {
  /** The limits' Redis and the deployment's prefix (QUEUE_PREFIX), as the workers' GlobalConcurrency has them. */
  redis: Redis | Cluster;
  prefix: string;
  /** The calls in flight as Postgres has them (@fleet/db listCallsInFlight with the same `staleAfterMs`). */
  callsInFlight: () => Promise<CallInFlight[]>;
  /** How long after its start a call is presumed dead (the call timeout and its grace), ms: a rebuilt slot's lease. */
  staleAfterMs: number;
  /**
   * The wait before reading the calls in flight, ms: longer than the admission's wait bound and a claim. Default
   * 1000 (the bound's default) + LIMITS_SETTLE_MARGIN_MS.
   */
  settleMs?: number;
  /** Told what a rebuild did, for a log line. */
  onRecovered?: (facts: { slots: number; settledMs: number }) => void;
  sleep?: (ms: number) => Promise<void>;
  /** The clock of the slots' leases (GlobalConcurrency's `now`). Default Date.now. */
  now?: () => number;
};

export type LimitsRecovery = {
  /**
   * Makes sure the limits are whole: 'whole' when they were, 'rebuilt' when this call rebuilt them, 'elsewhere' when
   * another process holds the rebuild. Concurrent calls in one process share one rebuild.
   */
  ensure(): Promise<'whole' | 'rebuilt' | 'elsewhere'>;
};

/** The slot a rebuild gives a call in flight: named after its attempt, so its worker can give it back. */
export function rebuiltSlotToken(attemptId: bigint): string {
  return `attempt:${attemptId}`;
}

/** KEYS: slots, holders, epoch. ARGV[1]: the epoch to set ('' for none yet), then token, rollout, expiry triples. */
const RESTORE = luaScript(`
for i = 2, #ARGV, 3 do
  local token, rollout, expiry = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2])
  if not redis.call('zscore', KEYS[1], token) then
    redis.call('zadd', KEYS[1], expiry, token)
    redis.call('hset', KEYS[2], token, rollout)
    redis.call('hincrby', KEYS[2], 'count:' .. rollout, 1)
  end
end
if ARGV[1] ~= '' then redis.call('set', KEYS[3], ARGV[1]) end
return 1
`);

/** Deletes the lock only if it is still ours. */
const UNLOCK = luaScript(`
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
`);

const BATCH = 500;

/** What a rebuild's settle adds to the admission's wait bound: time for the claim of a call admitted just before. */
export const LIMITS_SETTLE_MARGIN_MS = 2000;

export function createLimitsRecovery(options: LimitsRecoveryOptions): LimitsRecovery {
  const { redis } = options;
  const keys = globalSlotKeys(options.prefix);
  const epochKey = limitsEpochKey(options.prefix);
  const recoveryLockKey = limitsRecoveryLockKey(options.prefix);
  const now = options.now ?? Date.now;
  const settleMs = options.settleMs ?? 1000 + LIMITS_SETTLE_MARGIN_MS;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  let running: Promise<'whole' | 'rebuilt' | 'elsewhere'> | null = null;

  async function rebuild(): Promise<'whole' | 'rebuilt' | 'elsewhere'> {
    if ((await redis.exists(epochKey)) === 1) return 'whole';
    const lock = randomUUID();
    // Held past the settle and the read; should this process die meanwhile, another takes over after it.
    const taken = await redis.set(recoveryLockKey, lock, 'PX', settleMs + 30_000, 'NX');
    if (taken !== 'OK') return 'elsewhere';
    try {
      await sleep(settleMs);
      const calls = await options.callsInFlight();
      const at = now();
      const epoch = `${new Date(at).toISOString()} ${lock}`;
      for (let i = 0; i < calls.length || i === 0; i += BATCH) {
        const batch = calls.slice(i, i + BATCH);
        const last = i + BATCH >= calls.length;
        await RESTORE(
          redis,
          3,
          keys[0],
          keys[1],
          epochKey,
          last ? epoch : '',
          ...batch.flatMap((c) => [
            rebuiltSlotToken(c.attemptId),
            c.rolloutId,
            String(at + Math.max(0, options.staleAfterMs - c.ageMs)),
          ]),
        );
      }
      options.onRecovered?.({ slots: calls.length, settledMs: settleMs });
      return 'rebuilt';
    } finally {
      await UNLOCK(redis, 1, recoveryLockKey, lock).catch(() => undefined);
    }
  }

  return {
    ensure() {
      running ??= rebuild().finally(() => {
        running = null;
      });
      return running;
    },
  };
}
