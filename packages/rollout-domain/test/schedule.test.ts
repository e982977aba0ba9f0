import { describe, expect, it } from 'vitest';
import type { RolloutSchedule, ScheduleFacts } from '../src/index.ts';
import {
  decideRollout,
  decideSchedule,
  initialRolloutStatus,
  maintenanceWindowProblem,
  nextWindowEnd,
  windowPosition,
} from '../src/index.ts';

const at = (iso: string) => new Date(iso);
/** 02:00 UTC every day for an hour; no call in its last 10 minutes. */
const nightly = [{ cron: '0 2 * * *', durationMinutes: 60, timezone: 'UTC' }];

const schedule = (over: Partial<RolloutSchedule> = {}): RolloutSchedule => ({
  startAt: null,
  endAt: null,
  endBehavior: 'pause',
  maintenanceWindows: nightly,
  cutoffMinutes: 10,
  ...over,
});
const facts = (over: Partial<ScheduleFacts>): ScheduleFacts => ({
  status: 'running',
  schedule: schedule(),
  now: at('2026-12-02T02:30:00Z'),
  endedAt: null,
  startNowUntil: null,
  callsUntil: null,
  nextWindowAt: null,
  ...over,
});

describe('windowPosition', () => {
  it('is open inside a window until its end less the cutoff, and closed in the cutoff until the next opening', () => {
    expect(windowPosition(nightly, 10, at('2026-12-02T02:00:00Z'))).toEqual({
      kind: 'open',
      callsUntil: at('2026-12-02T02:50:00Z'),
    });
    expect(windowPosition(nightly, 10, at('2026-12-02T02:49:59Z')).kind).toBe('open');
    expect(windowPosition(nightly, 10, at('2026-12-02T02:50:00Z'))).toEqual({
      kind: 'closed',
      nextWindowAt: at('2026-12-03T02:00:00Z'),
    });
    expect(windowPosition(nightly, 10, at('2026-12-02T01:59:00Z'))).toEqual({
      kind: 'closed',
      nextWindowAt: at('2026-12-02T02:00:00Z'),
    });
  });

  it("reads the cron in the window's IANA time zone (02:00 in Berlin is 01:00 UTC in December)", () => {
    const berlin = [{ cron: '0 2 * * *', durationMinutes: 30, timezone: 'Europe/Berlin' }];
    expect(windowPosition(berlin, 0, at('2026-12-02T01:10:00Z'))).toEqual({
      kind: 'open',
      callsUntil: at('2026-12-02T01:30:00Z'),
    });
    expect(windowPosition(berlin, 0, at('2026-12-02T02:10:00Z')).kind).toBe('closed');
  });

  it('takes the latest end of the open windows and the soonest opening of the closed ones', () => {
    const two = [...nightly, { cron: '30 2 * * *', durationMinutes: 60, timezone: 'UTC' }];
    expect(windowPosition(two, 0, at('2026-12-02T02:40:00Z'))).toEqual({
      kind: 'open',
      callsUntil: at('2026-12-02T03:30:00Z'),
    });
    expect(windowPosition(two, 0, at('2026-12-02T04:00:00Z'))).toEqual({
      kind: 'closed',
      nextWindowAt: at('2026-12-03T02:00:00Z'),
    });
  });

  it('is always open without windows', () => {
    expect(windowPosition([], 0, at('2026-12-02T04:00:00Z'))).toEqual({ kind: 'open', callsUntil: null });
  });

  it('gives start-now the end of the window that would come next', () => {
    expect(nextWindowEnd(nightly, 10, at('2026-12-02T05:00:00Z'))).toEqual(at('2026-12-03T02:50:00Z'));
    expect(nextWindowEnd(nightly, 10, at('2026-12-02T02:10:00Z'))).toEqual(at('2026-12-02T02:50:00Z'));
    expect(nextWindowEnd([], 0, at('2026-12-02T05:00:00Z'))).toBeNull();
  });
});

describe('maintenanceWindowProblem', () => {
  it('refuses an unknown time zone, a cron that is not five fields, and a cutoff as long as the window', () => {
    expect(maintenanceWindowProblem(nightly[0]!, 10)).toBeNull();
    expect(maintenanceWindowProblem({ ...nightly[0]!, timezone: 'Mars/Olympus' }, 0)).toMatch(/IANA time zone/);
    expect(maintenanceWindowProblem({ ...nightly[0]!, cron: '0 0 2 * * *' }, 0)).toMatch(/five fields/);
    expect(maintenanceWindowProblem({ ...nightly[0]!, cron: 'every night' }, 0)).toMatch(/five fields/);
    expect(maintenanceWindowProblem(nightly[0]!, 60)).toMatch(/cutoffMinutes \(60\) must be below/);
  });
});

describe('decideSchedule', () => {
  it('keeps a scheduled rollout waiting for its startAt, showing it as nextWindowAt', () => {
    const waiting = facts({ status: 'scheduled', schedule: schedule({ startAt: '2026-12-02T03:00:00.000Z' }) });
    expect(decideSchedule(waiting)).toEqual({
      kind: 'update',
      callsUntil: null,
      nextWindowAt: at('2026-12-02T03:00:00Z'),
    });
    expect(decideSchedule({ ...waiting, nextWindowAt: at('2026-12-02T03:00:00Z') })).toEqual({ kind: 'none' });
  });

  it('starts a scheduled rollout at its startAt inside a window, with the window end as callsUntil', () => {
    expect(
      decideSchedule(facts({ status: 'scheduled', schedule: schedule({ startAt: '2026-12-02T02:20:00.000Z' }) })),
    ).toEqual({
      kind: 'move',
      to: 'running',
      callsUntil: at('2026-12-02T02:50:00Z'),
      nextWindowAt: null,
      event: 'rollout.started',
    });
  });

  it('sends a scheduled rollout whose startAt passed outside every window to waiting_for_window', () => {
    expect(decideSchedule(facts({ status: 'scheduled', now: at('2026-12-02T05:00:00Z') }))).toEqual({
      kind: 'move',
      to: 'waiting_for_window',
      callsUntil: null,
      nextWindowAt: at('2026-12-03T02:00:00Z'),
      event: 'rollout.window_waiting',
    });
  });

  it('moves a running rollout to waiting at its cutoff, and back to running when the next window opens', () => {
    const closing = decideSchedule(facts({ now: at('2026-12-02T02:55:00Z'), callsUntil: at('2026-12-02T02:50:00Z') }));
    expect(closing).toMatchObject({ kind: 'move', to: 'waiting_for_window', nextWindowAt: at('2026-12-03T02:00:00Z') });
    expect(decideSchedule(facts({ status: 'waiting_for_window', now: at('2026-12-03T02:00:30Z') }))).toMatchObject({
      kind: 'move',
      to: 'running',
      callsUntil: at('2026-12-03T02:50:00Z'),
    });
    expect(
      decideSchedule(facts({ status: 'running', callsUntil: at('2026-12-02T02:50:00Z'), nextWindowAt: null })),
    ).toEqual({ kind: 'none' });
  });

  it('applies the end behaviour once at endAt, whatever the window says', () => {
    const ending = facts({ schedule: schedule({ endAt: '2026-12-02T02:15:00.000Z', endBehavior: 'cancel' }) });
    expect(decideSchedule(ending)).toMatchObject({
      kind: 'end',
      behavior: 'cancel',
      endAt: '2026-12-02T02:15:00.000Z',
    });
    expect(decideSchedule({ ...ending, endedAt: at('2026-12-02T02:15:01Z') }).kind).not.toBe('end');
  });

  it('applies endAt to a paused rollout, but moves it for nothing else', () => {
    const ending = facts({
      status: 'paused',
      schedule: schedule({ endAt: '2026-12-02T02:15:00.000Z', endBehavior: 'cancel' }),
    });
    expect(decideSchedule(ending)).toMatchObject({ kind: 'end', behavior: 'cancel' });
    expect(decideSchedule({ ...ending, endedAt: at('2026-12-02T02:15:01Z') })).toEqual({ kind: 'none' });
    // Inside a window, and outside one: a paused rollout stays as it is.
    expect(decideSchedule(facts({ status: 'paused' }))).toEqual({ kind: 'none' });
    expect(decideSchedule(facts({ status: 'paused', now: at('2026-12-02T05:00:00Z') }))).toEqual({ kind: 'none' });
  });

  it('lets start-now hold a rollout open outside its windows until its override ends', () => {
    const overridden = facts({ now: at('2026-12-02T05:00:00Z'), startNowUntil: at('2026-12-03T02:50:00Z') });
    expect(decideSchedule({ ...overridden, callsUntil: at('2026-12-03T02:50:00Z') })).toEqual({ kind: 'none' });
    expect(decideSchedule({ ...overridden, startNowUntil: at('2026-12-02T04:00:00Z') })).toMatchObject({
      kind: 'move',
      to: 'waiting_for_window',
    });
  });

  it('starts a waiting rollout whose schedule was removed, and leaves a running one alone', () => {
    expect(decideSchedule(facts({ status: 'waiting_for_window', schedule: null }))).toMatchObject({
      kind: 'move',
      to: 'running',
      callsUntil: null,
    });
    expect(decideSchedule(facts({ schedule: null }))).toEqual({ kind: 'none' });
  });
});

describe('initialRolloutStatus and the rollout transitions of schedules', () => {
  it('is scheduled for a future startAt or windows, running otherwise', () => {
    const now = at('2026-12-02T00:00:00Z');
    expect(initialRolloutStatus(null, now)).toBe('running');
    expect(initialRolloutStatus(schedule({ maintenanceWindows: [] }), now)).toBe('running');
    expect(initialRolloutStatus(schedule({ maintenanceWindows: [], startAt: '2026-12-02T00:00:03Z' }), now)).toBe(
      'scheduled',
    );
    expect(initialRolloutStatus(schedule(), now)).toBe('scheduled');
  });

  it('starts only a scheduled or waiting rollout, and sends only a running or scheduled one to wait', () => {
    expect(decideRollout('scheduled', { type: 'start' })).toMatchObject({ type: 'transition', to: 'running' });
    expect(decideRollout('waiting_for_window', { type: 'start' })).toMatchObject({ type: 'transition', to: 'running' });
    expect(decideRollout('running', { type: 'start' }).type).toBe('unchanged');
    expect(decideRollout('paused', { type: 'start' }).type).toBe('refuse');
    expect(decideRollout('running', { type: 'wait_for_window' })).toMatchObject({ to: 'waiting_for_window' });
    expect(decideRollout('completed', { type: 'wait_for_window' }).type).toBe('refuse');
    expect(decideRollout('waiting_for_window', { type: 'cancel', reason: 'x' })).toMatchObject({ to: 'cancelled' });
    expect(decideRollout('scheduled', { type: 'pause', reason: 'x' })).toMatchObject({ to: 'paused' });
    expect(decideRollout('waiting_for_window', { type: 'all_instances_final' })).toMatchObject({ to: 'completed' });
  });
});
