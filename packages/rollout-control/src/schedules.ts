import type { RolloutRecord, RolloutTransitionResult } from '@fleet/db';
import {
  listScheduledRollouts,
  markPausedRolloutScheduleEnded,
  transitionRollout,
  updateRolloutWindow,
} from '@fleet/db';
import { assertNever } from '@fleet/errors';
import type { RolloutSchedule } from '@fleet/rollout-domain';
import { decideSchedule, nextWindowEnd } from '@fleet/rollout-domain';
import { readPolicy } from './policy-view.ts';
import type { RolloutControlDeps } from './rollout-control.ts';
import { cancelRollout, pauseRollout } from './rollout-control.ts';

/**
 * The scheduler: moves rollouts with a schedule between scheduled, waiting_for_window and running as their startAt,
 * windows and endAt say (decideSchedule), and applies endAt to paused ones, each move a guarded write with its
 * event. `now` is Postgres's time (the caller's DatabaseClock, or a test's clock): every process that decides agrees
 * on a window's edges. The reconciler runs it every pass; a claim checks the calls_until it writes, so no call starts
 * past a window's cutoff however late the next pass is.
 */

export type ScheduleMove = { rolloutId: string; decision: ReturnType<typeof decideSchedule>['kind'] };

async function applySchedule(
  deps: RolloutControlDeps,
  rollout: RolloutRecord,
  schedule: RolloutSchedule | null,
  now: Date,
): Promise<ScheduleMove['decision']> {
  const decision = decideSchedule({
    status: rollout.status,
    schedule,
    now,
    endedAt: rollout.scheduleEndedAt,
    startNowUntil: rollout.startNowUntil,
    callsUntil: rollout.callsUntil,
    nextWindowAt: rollout.nextWindowAt,
  });
  switch (decision.kind) {
    case 'none':
      break;
    case 'update':
      await updateRolloutWindow(deps.db, rollout.id, {
        status: rollout.status,
        callsUntil: decision.callsUntil,
        nextWindowAt: decision.nextWindowAt,
      });
      break;
    case 'move':
      await transitionRollout(
        deps.db,
        rollout.id,
        decision.to === 'running' ? { type: 'start' } : { type: 'wait_for_window' },
        { by: deps.by, schedule: { callsUntil: decision.callsUntil, nextWindowAt: decision.nextWindowAt } },
      );
      deps.logger.info(decision.to === 'running' ? 'rollout started by its schedule' : 'rollout waits for a window', {
        rolloutId: rollout.id,
        nextWindowAt: decision.nextWindowAt,
        callsUntil: decision.callsUntil,
      });
      break;
    case 'end':
      if (decision.behavior === 'cancel')
        await cancelRollout(deps, rollout.id, decision.reason, { scheduleEnded: true });
      else if (rollout.status === 'paused') {
        // Pausing a paused rollout changes nothing (the state machine's `unchanged`), so the end would never be
        // marked and would come back every pass: mark it, and keep the pause the rollout is in.
        if (await markPausedRolloutScheduleEnded(deps.db, rollout.id, decision, deps.by))
          deps.logger.info('schedule ended while the rollout was paused: it stays paused', { rolloutId: rollout.id });
      } else
        await pauseRollout(
          deps,
          rollout.id,
          decision.reason,
          { kind: 'schedule_end', endAt: decision.endAt },
          { scheduleEnded: true },
        );
      break;
    default:
      return assertNever(decision, 'schedule decision');
  }
  return decision.kind;
}

/** One pass over every scheduled, waiting or running rollout with a schedule, and paused ones past endAt; what moved. */
export async function applySchedules(deps: RolloutControlDeps, now: Date): Promise<ScheduleMove[]> {
  const moves: ScheduleMove[] = [];
  for (const rollout of await listScheduledRollouts(deps.db)) {
    const decision = await applySchedule(deps, rollout, readPolicy(rollout.policy).schedule, now);
    if (decision !== 'none') moves.push({ rolloutId: rollout.id, decision });
  }
  return moves;
}

/**
 * POST /v1/rollouts/:id/start-now: a scheduled or waiting rollout runs now, its schedule overridden once: calls may
 * start until the end of the window that would have come next (without windows, with no bound), then the windows
 * apply again. `now`: Postgres's time. `reason`: the operator's, if given: the rollout's statusReason and
 * rollout.started's `reason`.
 */
export async function startRolloutNow(
  deps: RolloutControlDeps,
  rollout: RolloutRecord,
  now: Date,
  reason: string | null = null,
): Promise<RolloutTransitionResult> {
  const schedule = readPolicy(rollout.policy).schedule;
  const until = schedule ? nextWindowEnd(schedule.maintenanceWindows, schedule.cutoffMinutes, now) : null;
  const result = await transitionRollout(
    deps.db,
    rollout.id,
    { type: 'start', reason },
    {
      by: deps.by,
      schedule: { callsUntil: until, nextWindowAt: null, startNowUntil: until ?? now, startCause: 'start_now' },
    },
  );
  if (result.kind === 'changed') deps.logger.info('rollout started now, over its schedule', { rolloutId: rollout.id });
  return result;
}
