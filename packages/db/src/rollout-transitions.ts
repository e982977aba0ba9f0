import type {
  EventSource,
  NewFleetEvent,
  PauseCause,
  RolloutDecision,
  RolloutEvent,
  RolloutStatus,
} from '@fleet/rollout-domain';
import { decideRollout, decideWaveGate } from '@fleet/rollout-domain';
import type { Database } from './client.ts';
import { GuardedWriteRaceError } from './errors.ts';
import { recordEvents } from './events/record-events.ts';
import type { Prisma } from './generated/prisma/client.ts';
import type { RolloutRecord } from './rollouts.ts';

/**
 * Rollout-level transitions, each decided by the rollout state machine and persisted with a guarded write
 * (`WHERE status = from`): a concurrent transition that got there first wins, and this one reports what it saw.
 */

export type RolloutTransitionResult =
  | { kind: 'changed'; from: RolloutStatus; to: RolloutStatus; rollout: RolloutRecord }
  | { kind: 'unchanged'; rollout: RolloutRecord }
  | { kind: 'refused'; reason: string; rollout: RolloutRecord }
  | { kind: 'missing' };

/** Who asks for a rollout transition, and what its event should say beyond the transition itself. */
export type RolloutChange = {
  by: EventSource;
  /** Why a pause happens (rollout.paused's `cause`); default an operator's. */
  pauseCause?: PauseCause;
  /** A cancel decided by the rollout's own abort threshold: rollout.aborted rather than rollout.cancelled. */
  aborted?: boolean;
  /**
   * A move the schedule made (scheduler or start-now): the bounds written with it (calls_until, next_window_at,
   * start_now_until, schedule_ended_at when the end applied) and, for a start, its cause in rollout.started.
   */
  schedule?: {
    callsUntil: Date | null;
    nextWindowAt: Date | null;
    startNowUntil?: Date | null;
    ended?: boolean;
    startCause?: 'schedule' | 'start_now';
  };
};

type Transition = Extract<RolloutDecision, { type: 'transition' }>;

/** Instances per state, in `tx` (rollout.completed's counts). */
async function stateCountsIn(tx: Prisma.TransactionClient, rolloutId: string): Promise<Record<string, number>> {
  const rows = await tx.$queryRaw<{ state: string; n: number }[]>`
    SELECT state::text AS state, n FROM rollout_state_count WHERE rollout_id = ${rolloutId}::uuid AND n > 0`;
  return Object.fromEntries(rows.map((row) => [row.state, Number(row.n)]));
}

/** The event of a rollout transition. */
async function transitionEvent(
  tx: Prisma.TransactionClient,
  rollout: RolloutRecord,
  decision: Transition,
  change: RolloutChange,
): Promise<NewFleetEvent> {
  const about = { rolloutId: rollout.id, userId: rollout.userId };
  switch (decision.to) {
    case 'paused':
      return {
        ...about,
        type: 'rollout.paused',
        data: { cause: change.pauseCause ?? { kind: 'operator' }, reason: decision.reason },
      };
    case 'running':
      if (decision.from === 'paused')
        return { ...about, type: 'rollout.resumed', data: { wave: rollout.currentWave, reason: decision.reason } };
      return {
        ...about,
        type: 'rollout.started',
        data: {
          from: decision.from,
          cause: change.schedule?.startCause ?? 'schedule',
          callsUntil: change.schedule?.callsUntil?.toISOString() ?? null,
          reason: decision.reason,
        },
      };
    case 'waiting_for_window':
      return {
        ...about,
        type: 'rollout.window_waiting',
        data: { from: decision.from, nextWindowAt: change.schedule?.nextWindowAt?.toISOString() ?? null },
      };
    case 'scheduled':
      // No transition leads back to scheduled (a rollout is created in it, with rollout.scheduled).
      throw new GuardedWriteRaceError('rollout', rollout.id, 'no transition leads to scheduled');
    case 'cancelled':
      return change.aborted
        ? { ...about, type: 'rollout.aborted', data: { reason: decision.reason } }
        : { ...about, type: 'rollout.cancelled', data: { reason: decision.reason } };
    case 'completed':
      return { ...about, type: 'rollout.completed', data: { counts: await stateCountsIn(tx, rollout.id) } };
  }
}

/**
 * A transition's transaction may cancel every pending instance of a rollout in one statement: for 100,000 instances
 * that runs past the 5 s Prisma gives an interactive transaction by default on a busy machine (the API answered 500).
 */
const TRANSITION_TRANSACTION = { timeout: 60_000, maxWait: 10_000 };

/**
 * Moves a rollout as the state machine decides `event`, with its event (rollout.paused, resumed, cancelled or
 * aborted) in the same transaction.
 */
export async function transitionRollout(
  db: Database,
  rolloutId: string,
  event: RolloutEvent,
  change: RolloutChange,
): Promise<RolloutTransitionResult> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const rollout = (await db.prisma.rollout.findUnique({ where: { id: rolloutId } })) as RolloutRecord | null;
    if (!rollout) return { kind: 'missing' };
    const decision = decideRollout(rollout.status, event);
    if (decision.type === 'unchanged') return { kind: 'unchanged', rollout };
    if (decision.type === 'refuse') return { kind: 'refused', reason: decision.reason, rollout };
    const now = new Date();
    const changed = await db.prisma.$transaction(async (tx) => {
      const moved = await tx.rollout.updateMany({
        where: { id: rolloutId, status: decision.from },
        data: {
          status: decision.to,
          statusReason: decision.reason,
          ...(decision.to === 'cancelled' || decision.to === 'completed' ? { finishedAt: now } : {}),
          ...(change.schedule
            ? {
                callsUntil: change.schedule.callsUntil,
                nextWindowAt: change.schedule.nextWindowAt,
                ...(change.schedule.startNowUntil !== undefined
                  ? { startNowUntil: change.schedule.startNowUntil }
                  : {}),
                ...(change.schedule.ended ? { scheduleEndedAt: now } : {}),
              }
            : {}),
        },
      });
      if (moved.count === 0) return false;
      // Cancelling: nothing that has not started will start. Running calls finish and are recorded.
      if (decision.to === 'cancelled') {
        await tx.$executeRaw`
          UPDATE rollout_instance SET state = 'cancelled', finished_at = ${now}, updated_at = ${now}, next_attempt_at = NULL
          WHERE rollout_id = ${rolloutId}::uuid AND state = 'pending'`;
      }
      await recordEvents(tx, change.by, [await transitionEvent(tx, rollout, decision, change)]);
      return true;
    }, TRANSITION_TRANSACTION);
    if (changed) {
      const updated = (await db.prisma.rollout.findUniqueOrThrow({ where: { id: rolloutId } })) as RolloutRecord;
      return { kind: 'changed', from: decision.from, to: decision.to, rollout: updated };
    }
    // Someone else moved it between our read and write: decide again from what is there now.
  }
  throw new GuardedWriteRaceError(
    'rollout',
    rolloutId,
    `rollout ${rolloutId}: transition ${event.type} kept losing races`,
  );
}

/**
 * Replaces policy fields of an open rollout, with its rollout.policy_changed event (the policy before and after) in
 * the same transaction. Refused (null) once the rollout is completed or cancelled. The row is locked first so that
 * `before` is the policy this update replaced, whatever another update does at the same time.
 */
export async function updateRolloutPolicy(
  db: Database,
  rolloutId: string,
  update: { policy: Prisma.InputJsonValue; concurrency: number; maxAttempts: number },
  by: EventSource,
): Promise<RolloutRecord | null> {
  return db.prisma.$transaction(async (tx) => {
    const [before] = await tx.$queryRaw<{ user_id: string; policy: unknown }[]>`
      SELECT user_id, policy FROM rollout
      WHERE id = ${rolloutId}::uuid AND status IN ('running', 'paused', 'scheduled', 'waiting_for_window') FOR UPDATE`;
    if (!before) return null;
    const updated = (await tx.rollout.update({
      where: { id: rolloutId },
      data: { policy: update.policy, concurrency: update.concurrency, maxAttempts: update.maxAttempts },
    })) as RolloutRecord;
    await recordEvents(tx, by, [
      {
        type: 'rollout.policy_changed',
        rolloutId,
        userId: before.user_id,
        data: { before: before.policy, after: updated.policy },
      },
    ]);
    return updated;
  });
}

/** A wave's instances: still open, and per final state (skipped ones count for neither success nor failure). */
export type WaveCounts = { open: number; succeeded: number; failed: number; cancelled: number; skipped: number };

export async function countWave(db: Database, rolloutId: string, wave: number): Promise<WaveCounts> {
  const rows = await db.prisma.$queryRaw<{ state: string; n: bigint }[]>`
    SELECT state::text AS state, count(*) AS n FROM rollout_instance
    WHERE rollout_id = ${rolloutId}::uuid AND wave_no = ${wave} GROUP BY state`;
  const counts: WaveCounts = { open: 0, succeeded: 0, failed: 0, cancelled: 0, skipped: 0 };
  for (const row of rows) {
    const n = Number(row.n);
    if (row.state === 'pending' || row.state === 'in_progress') counts.open += n;
    else counts[row.state as 'succeeded' | 'failed' | 'cancelled' | 'skipped'] += n;
  }
  return counts;
}

async function isWaveOpen(db: Database, rolloutId: string, wave: number): Promise<boolean> {
  const rows = await db.prisma.$queryRaw<unknown[]>`
    SELECT 1 FROM rollout_instance
    WHERE rollout_id = ${rolloutId}::uuid AND wave_no = ${wave} AND state IN ('pending', 'in_progress') LIMIT 1`;
  return rows.length > 0;
}

export type WaveStep =
  | { kind: 'wave_open' }
  | { kind: 'not_running' }
  /** The rollout moved to `wave`: enqueue its pending instances (iterateRolloutInstances with `waveNo`, `pendingOnly`). */
  | { kind: 'advanced'; wave: number }
  | { kind: 'paused'; reason: string }
  | { kind: 'last_wave_done' };

/**
 * Called after an instance of the current wave ends (and on resume): when the current wave has no open instance
 * left, either start the next wave (returning its instances, for the caller to enqueue), or pause the rollout
 * for a person because the wave's success rate is below the threshold. `approved`: an operator resumed after such
 * a pause, so the threshold is not asked again. Guarded on `current_wave`, so only one caller advances a wave.
 */
export async function advanceWaveIfDone(
  db: Database,
  rolloutId: string,
  options: { thresholdPercent: number; approved?: boolean; by: EventSource },
): Promise<WaveStep> {
  const rollout = await db.prisma.rollout.findUnique({
    where: { id: rolloutId },
    select: { status: true, currentWave: true, waveCount: true, userId: true },
  });
  if (!rollout || rollout.status !== 'running') return { kind: 'not_running' };
  const wave = rollout.currentWave;
  if (await isWaveOpen(db, rolloutId, wave)) return { kind: 'wave_open' };
  if (wave >= rollout.waveCount) return { kind: 'last_wave_done' };
  const counts = await countWave(db, rolloutId, wave);
  const gate = options.approved
    ? ({ type: 'advance', nextWave: wave + 1 } as const)
    : decideWaveGate({
        wave,
        waveCount: rollout.waveCount,
        succeeded: counts.succeeded,
        failed: counts.failed,
        thresholdPercent: options.thresholdPercent,
      });
  if (gate.type === 'complete') return { kind: 'last_wave_done' };
  const about = { rolloutId, userId: rollout.userId };
  if (gate.type === 'pause') {
    const paused = await db.prisma.$transaction(async (tx) => {
      const moved = await tx.rollout.updateMany({
        where: { id: rolloutId, status: 'running', currentWave: wave },
        data: { status: 'paused', statusReason: gate.reason },
      });
      if (moved.count === 0) return false;
      const cause: PauseCause = {
        kind: 'wave_gate',
        wave,
        succeeded: counts.succeeded,
        failed: counts.failed,
        thresholdPercent: options.thresholdPercent,
      };
      await recordEvents(tx, options.by, [{ ...about, type: 'rollout.paused', data: { cause, reason: gate.reason } }]);
      return true;
    });
    return paused ? { kind: 'paused', reason: gate.reason } : { kind: 'not_running' };
  }
  const advanced = await db.prisma.$transaction(async (tx) => {
    const moved = await tx.rollout.updateMany({
      where: { id: rolloutId, status: 'running', currentWave: wave },
      data: { currentWave: gate.nextWave, statusReason: null },
    });
    if (moved.count === 0) return false;
    await recordEvents(tx, options.by, [
      { ...about, type: 'rollout.wave_started', data: { wave: gate.nextWave, waveCount: rollout.waveCount } },
    ]);
    return true;
  });
  if (!advanced) return { kind: 'not_running' };
  return { kind: 'advanced', wave: gate.nextWave };
}

/** Open instances of the waves allowed to run, for (re-)enqueueing. */
export async function listRunnableInstances(
  db: Database,
  rolloutId: string,
  options: { upToWave: number; limit: number; after?: bigint },
) {
  return db.prisma.rolloutInstance.findMany({
    where: {
      rolloutId,
      waveNo: { lte: options.upToWave },
      state: { in: ['pending', 'in_progress'] },
      ...(options.after !== undefined ? { id: { gt: options.after } } : {}),
    },
    orderBy: { id: 'asc' },
    take: options.limit,
    select: { id: true, instanceId: true },
  });
}
