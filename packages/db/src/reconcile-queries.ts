import type { InstanceState, RolloutStatus } from '@fleet/rollout-domain';
import type { Database } from './client.ts';

/** Reads the reconciler needs to compare Postgres (the record) with Redis (the transport). */

/** An open instance of a wave allowed to run, with its latest attempt: what its job in Redis should be doing. */
export type OpenInstanceForRepair = {
  id: bigint;
  instanceId: string;
  state: Extract<InstanceState, 'pending' | 'in_progress'>;
  /** For a pending instance waiting out a retry backoff: when its next attempt is due. */
  nextAttemptAt: Date | null;
  attemptCount: number;
  /**
   * The latest attempt, if any: started but unfinished means a call may be in flight (or its worker died). Started
   * is when its call, or the latest replay of that call, began.
   */
  attemptStartedAt: Date | null;
  attemptFinishedAt: Date | null;
  attemptWorkerId: string | null;
};

/**
 * One page of a rollout's instances in one open state (id order, keyset on the (rollout_id, state, id) index: a
 * page costs the same whether the rollout has 10 or 100,000 instances left), in waves up to the rollout's current
 * wave: exactly the instances that should have a job in Redis. Later waves wait in Postgres.
 */
export async function listOpenInstancesForRepair(
  db: Database,
  rolloutId: string,
  options: { state: 'pending' | 'in_progress'; limit: number; after?: bigint },
): Promise<OpenInstanceForRepair[]> {
  const after = options.after ?? -1n;
  const rows = await db.prisma.$queryRaw<
    {
      id: bigint;
      instance_id: string;
      state: 'pending' | 'in_progress';
      next_attempt_at: Date | null;
      attempt_count: number;
      started_at: Date | null;
      finished_at: Date | null;
      worker_id: string | null;
    }[]
  >`
    SELECT ri.id, ri.instance_id, ri.state::text AS state, ri.next_attempt_at, ri.attempt_count,
           coalesce(a.replay_started_at, a.started_at) AS started_at, a.finished_at, a.worker_id
    FROM rollout_instance ri
    LEFT JOIN install_attempt a ON a.rollout_instance_id = ri.id AND a.attempt_no = ri.attempt_count
    WHERE ri.rollout_id = ${rolloutId}::uuid AND ri.state = ${options.state}::"InstanceState" AND ri.id > ${after}
      AND ri.wave_no <= (SELECT current_wave FROM rollout WHERE id = ${rolloutId}::uuid)
    ORDER BY ri.id
    LIMIT ${options.limit}`;
  return rows.map((r) => ({
    id: r.id,
    instanceId: r.instance_id,
    state: r.state,
    nextAttemptAt: r.next_attempt_at,
    attemptCount: r.attempt_count,
    attemptStartedAt: r.started_at,
    attemptFinishedAt: r.finished_at,
    attemptWorkerId: r.worker_id,
  }));
}

/** Every page of a rollout's runnable open instances: pending ones, then in_progress ones. */
export async function* iterateOpenInstancesForRepair(
  db: Database,
  rolloutId: string,
  options: { pageSize: number },
): AsyncGenerator<OpenInstanceForRepair[], void, void> {
  for (const state of ['pending', 'in_progress'] as const) {
    let after: bigint | undefined;
    for (;;) {
      const page = await listOpenInstancesForRepair(db, rolloutId, {
        state,
        limit: options.pageSize,
        ...(after !== undefined ? { after } : {}),
      });
      if (page.length > 0) yield page;
      if (page.length < options.pageSize) break;
      after = page[page.length - 1]!.id;
    }
  }
}

/** State and row id of the named instances of one rollout (unique (rollout_id, instance_id) index). */
export async function findInstanceStates(
  db: Database,
  rolloutId: string,
  instanceIds: readonly string[],
): Promise<Map<string, { id: bigint; state: InstanceState }>> {
  const out = new Map<string, { id: bigint; state: InstanceState }>();
  if (instanceIds.length === 0) return out;
  const rows = await db.prisma.$queryRaw<{ id: bigint; instance_id: string; state: InstanceState }[]>`
    SELECT id, instance_id, state::text AS state FROM rollout_instance
    WHERE rollout_id = ${rolloutId}::uuid AND instance_id = ANY(${instanceIds as string[]}::text[])`;
  for (const row of rows) out.set(row.instance_id, { id: row.id, state: row.state });
  return out;
}

export type RolloutForSweep = {
  id: string;
  userId: string;
  status: RolloutStatus;
  concurrency: number;
  finishedAt: Date | null;
};

/**
 * Rollouts the reconciler still looks after besides the open ones: closed (completed, cancelled) since `since`.
 * Their last instances may still need a manual-install flag, a verification, or leftover jobs removed.
 */
export async function listRolloutsClosedSince(db: Database, since: Date): Promise<RolloutForSweep[]> {
  const rows = await db.prisma.$queryRaw<
    { id: string; user_id: string; status: RolloutStatus; concurrency: number; finished_at: Date | null }[]
  >`
    SELECT id::text AS id, user_id, status::text AS status, concurrency, finished_at FROM rollout
    WHERE status IN ('completed', 'cancelled') AND coalesce(finished_at, updated_at) >= ${since}
    ORDER BY coalesce(finished_at, updated_at)`;
  return rows.map((r) => ({
    id: r.id,
    userId: r.user_id,
    status: r.status,
    concurrency: r.concurrency,
    finishedAt: r.finished_at,
  }));
}

/** A NodeInstall call that may be in flight: its attempt, its rollout, and how long ago it (or its replay) started. */
export type CallInFlightRecord = { attemptId: bigint; rolloutId: string; ageMs: number };

/**
 * Every NodeInstall call that may still be in flight: the latest attempt of each in_progress instance of a rollout
 * not yet final, unfinished and started (or replayed) less than `staleAfterMs` ago on Postgres's clock (older, its
 * worker is presumed dead and the reconciler takes it over). What the global cap's slots are rebuilt from when
 * Redis has lost them (@fleet/limits LimitsRecovery): a claim is written before its call is sent, so no call is
 * missing here. Reads the rollouts by status, their instances on (rollout_id, state, id), their attempts by key.
 */
export async function listCallsInFlight(db: Database, staleAfterMs: number): Promise<CallInFlightRecord[]> {
  const { rows } = await db.pool.query<{ attempt_id: string; rollout_id: string; age_ms: number }>({
    name: 'list-calls-in-flight',
    text: `
      SELECT a.id::text AS attempt_id, ri.rollout_id::text AS rollout_id,
             (EXTRACT(EPOCH FROM (now() - coalesce(a.replay_started_at, a.started_at))) * 1000)::float8 AS age_ms
      FROM rollout r
      JOIN rollout_instance ri ON ri.rollout_id = r.id AND ri.state = 'in_progress'
      JOIN install_attempt a ON a.rollout_instance_id = ri.id AND a.attempt_no = ri.attempt_count
      WHERE r.status NOT IN ('completed', 'cancelled') AND a.kind = 'install' AND a.finished_at IS NULL
        AND coalesce(a.replay_started_at, a.started_at) > now() - make_interval(secs => $1::float8 / 1000)`,
    values: [staleAfterMs],
  });
  return rows.map((r) => ({ attemptId: BigInt(r.attempt_id), rolloutId: r.rollout_id, ageMs: Math.max(0, r.age_ms) }));
}
