/**
 * Schedules and maintenance windows: when a rollout may start calls. Pure functions of the schedule and a time; the
 * time is Postgres's (see the reconciler's and the worker's schedule clock), never one host's alone.
 *
 * A window opens at each occurrence of its cron (five fields, in its IANA timezone) and lasts `durationMinutes`;
 * calls start only inside one and not in its last `cutoffMinutes` (in-flight calls finish). Without windows a
 * rollout may call at any time from `startAt`. At `endAt` the end behaviour applies once: `pause` or `cancel`.
 */
import { Cron } from 'croner';
import { assertNever } from '@fleet/errors';
import type { RolloutStatus } from './states.ts';

export type MaintenanceWindow = {
  /** Five-field cron of the window's opening, e.g. `0 2 * * *` (02:00 every day). */
  cron: string;
  /** How long the window stays open, in minutes. */
  durationMinutes: number;
  /** IANA time zone the cron is read in, e.g. `Europe/Berlin`. */
  timezone: string;
};

export type EndBehavior = 'pause' | 'cancel';

export type RolloutSchedule = {
  /** ISO time before which no call starts (the rollout is `scheduled`); null: at once. */
  startAt: string | null;
  /** ISO time at which `endBehavior` applies to what is left; null: no end. */
  endAt: string | null;
  endBehavior: EndBehavior;
  /** Empty: calls at any time. */
  maintenanceWindows: MaintenanceWindow[];
  /** No call starts in a window's last this many minutes. Default 0. */
  cutoffMinutes: number;
};

function cronOf(window: MaintenanceWindow): Cron {
  return new Cron(window.cron, { timezone: window.timezone, mode: '5-part', paused: true });
}

/** Null when the cron, the time zone or the durations do not make a window; else why not. */
export function maintenanceWindowProblem(window: MaintenanceWindow, cutoffMinutes: number): string | null {
  try {
    new Intl.DateTimeFormat('en', { timeZone: window.timezone });
  } catch {
    return `timezone must be an IANA time zone such as "Europe/Berlin"; got ${JSON.stringify(window.timezone)}`;
  }
  try {
    if (cronOf(window).nextRun(new Date()) === null) return 'cron never occurs';
  } catch (error) {
    return `cron must be five fields (minute hour day month weekday): ${(error as Error).message}`;
  }
  if (cutoffMinutes >= window.durationMinutes)
    return `cutoffMinutes (${cutoffMinutes}) must be below the window's durationMinutes (${window.durationMinutes})`;
  return null;
}

/** Where `now` falls: calls may start until `callsUntil` (null: no end), or not before `nextWindowAt`. */
export type WindowPosition = { kind: 'open'; callsUntil: Date | null } | { kind: 'closed'; nextWindowAt: Date | null };

const MINUTE_MS = 60_000;

/**
 * Whether calls may start at `now` under the windows. A window opened at occurrence `o` admits calls in
 * [o, o + duration - cutoff): the next occurrence after `now - duration` tells whether one is open now. Of several
 * open windows the latest `callsUntil` counts; closed, the soonest next opening.
 */
export function windowPosition(
  windows: readonly MaintenanceWindow[],
  cutoffMinutes: number,
  now: Date,
): WindowPosition {
  if (windows.length === 0) return { kind: 'open', callsUntil: null };
  let callsUntil: Date | null = null;
  let nextWindowAt: Date | null = null;
  for (const window of windows) {
    const cron = cronOf(window);
    const durationMs = window.durationMinutes * MINUTE_MS;
    const opened = cron.nextRun(new Date(now.getTime() - durationMs));
    if (opened && opened.getTime() <= now.getTime()) {
      const until = new Date(opened.getTime() + durationMs - cutoffMinutes * MINUTE_MS);
      if (until.getTime() > now.getTime() && (callsUntil === null || until > callsUntil)) callsUntil = until;
    }
    const next = cron.nextRun(now);
    if (next && (nextWindowAt === null || next < nextWindowAt)) nextWindowAt = next;
  }
  return callsUntil ? { kind: 'open', callsUntil } : { kind: 'closed', nextWindowAt };
}

/** The end of the next window to open after `now` (what start-now grants), null without windows. */
export function nextWindowEnd(windows: readonly MaintenanceWindow[], cutoffMinutes: number, now: Date): Date | null {
  const position = windowPosition(windows, cutoffMinutes, now);
  if (position.kind === 'open') return position.callsUntil;
  if (!position.nextWindowAt) return null;
  const inside = windowPosition(windows, cutoffMinutes, position.nextWindowAt);
  return inside.kind === 'open' ? inside.callsUntil : null;
}

export type ScheduleFacts = {
  status: RolloutStatus;
  schedule: RolloutSchedule | null;
  now: Date;
  /** When the schedule's end behaviour was applied (it applies once); null: not yet. */
  endedAt: Date | null;
  /** start-now's override: calls may start until then whatever the windows say; null: none. */
  startNowUntil: Date | null;
  /** What the rollout row holds now, so that an unchanged answer writes nothing. */
  callsUntil: Date | null;
  nextWindowAt: Date | null;
};

export type ScheduleDecision =
  /** Nothing to change. */
  | { kind: 'none' }
  /** Move the rollout (scheduled/waiting_for_window -> running, running -> waiting_for_window). */
  | {
      kind: 'move';
      to: 'running' | 'waiting_for_window';
      callsUntil: Date | null;
      nextWindowAt: Date | null;
      event: 'rollout.started' | 'rollout.window_waiting';
    }
  /** Same status, new bounds (the next window of a running rollout, a later opening of a waiting one). */
  | { kind: 'update'; callsUntil: Date | null; nextWindowAt: Date | null }
  /** endAt reached: pause or cancel what is left. */
  | { kind: 'end'; behavior: EndBehavior; endAt: string; reason: string };

const sameTime = (a: Date | null, b: Date | null) =>
  a === null ? b === null : b !== null && a.getTime() === b.getTime();

/** What the scheduler does with a rollout at `now`. */
export function decideSchedule(facts: ScheduleFacts): ScheduleDecision {
  const { status, schedule, now } = facts;
  if (!schedule)
    // The schedule was removed (PATCH schedule: null): nothing holds a waiting rollout back any more.
    return status === 'scheduled' || status === 'waiting_for_window'
      ? { kind: 'move', to: 'running', callsUntil: null, nextWindowAt: null, event: 'rollout.started' }
      : { kind: 'none' };
  switch (status) {
    case 'completed':
    case 'cancelled':
      return { kind: 'none' };
    case 'paused':
    case 'scheduled':
    case 'waiting_for_window':
    case 'running':
      break;
    default:
      return assertNever(status, 'rollout status');
  }
  // endAt applies to a paused rollout too: one an operator paused and left past its end is cancelled by `cancel`,
  // and with `pause` stays paused, its end marked applied (a resume then runs it, as after the end's own pause).
  if (schedule.endAt && facts.endedAt === null && now.getTime() >= Date.parse(schedule.endAt))
    return {
      kind: 'end',
      behavior: schedule.endBehavior,
      endAt: schedule.endAt,
      reason: `the schedule's endAt (${schedule.endAt}) was reached: ${schedule.endBehavior === 'cancel' ? 'cancelled' : 'paused'}`,
    };
  // Windows and startAt never move a paused rollout: only its resume does.
  if (status === 'paused') return { kind: 'none' };
  if (status === 'scheduled' && schedule.startAt && now.getTime() < Date.parse(schedule.startAt))
    return sameTime(facts.nextWindowAt, new Date(schedule.startAt))
      ? { kind: 'none' }
      : { kind: 'update', callsUntil: facts.callsUntil, nextWindowAt: new Date(schedule.startAt) };
  const overridden = facts.startNowUntil !== null && facts.startNowUntil.getTime() > now.getTime();
  const position: WindowPosition = overridden
    ? { kind: 'open', callsUntil: facts.startNowUntil }
    : windowPosition(schedule.maintenanceWindows, schedule.cutoffMinutes, now);
  if (position.kind === 'open') {
    if (status !== 'running')
      return {
        kind: 'move',
        to: 'running',
        callsUntil: position.callsUntil,
        nextWindowAt: null,
        event: 'rollout.started',
      };
    return sameTime(facts.callsUntil, position.callsUntil) && facts.nextWindowAt === null
      ? { kind: 'none' }
      : { kind: 'update', callsUntil: position.callsUntil, nextWindowAt: null };
  }
  if (status !== 'waiting_for_window')
    return {
      kind: 'move',
      to: 'waiting_for_window',
      callsUntil: null,
      nextWindowAt: position.nextWindowAt,
      event: 'rollout.window_waiting',
    };
  return sameTime(facts.nextWindowAt, position.nextWindowAt)
    ? { kind: 'none' }
    : { kind: 'update', callsUntil: null, nextWindowAt: position.nextWindowAt };
}

/** The status a new rollout starts in: `scheduled` with a future startAt or windows, else `running`. */
export function initialRolloutStatus(schedule: RolloutSchedule | null, now: Date): 'running' | 'scheduled' {
  if (!schedule) return 'running';
  if (schedule.startAt && Date.parse(schedule.startAt) > now.getTime()) return 'scheduled';
  return schedule.maintenanceWindows.length > 0 ? 'scheduled' : 'running';
}
