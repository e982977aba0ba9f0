import { z } from 'zod';
import type { RolloutSchedule } from '@fleet/rollout-domain';
import { maintenanceWindowProblem } from '@fleet/rollout-domain';

/** The `schedule` policy field (create and PATCH): when a rollout may start calls (docs/api.md, Schedules). */

const isoTime = z.iso.datetime({
  offset: true,
  error: 'must be an ISO 8601 time with its offset, e.g. 2026-12-24T02:00:00Z',
});

const maintenanceWindowSchema = z.strictObject({
  cron: z
    .string()
    .min(9)
    .max(200)
    .describe('five fields (minute hour day month weekday) of the window opening, e.g. "0 2 * * *"'),
  durationMinutes: z
    .number()
    .int()
    .min(1)
    .max(7 * 24 * 60)
    .describe('how long the window stays open'),
  timezone: z.string().min(1).max(64).describe('IANA time zone the cron is read in, e.g. "Europe/Berlin"'),
});

export const scheduleSchema = z
  .strictObject({
    startAt: isoTime.optional().describe('no call before this time: the rollout is `scheduled` until then'),
    endAt: isoTime.optional().describe('at this time `endBehavior` applies to what is left'),
    endBehavior: z.enum(['pause', 'cancel']).default('pause'),
    maintenanceWindows: z
      .array(maintenanceWindowSchema)
      .max(20)
      .optional()
      .describe('calls start only inside one of these; outside, the rollout is `waiting_for_window`'),
    cutoffMinutes: z
      .number()
      .int()
      .min(0)
      .max(24 * 60)
      .default(0)
      .describe("no call starts in a window's last this many minutes"),
  })
  .superRefine((schedule, ctx) => {
    (schedule.maintenanceWindows ?? []).forEach((window, index) => {
      const problem = maintenanceWindowProblem(window, schedule.cutoffMinutes);
      if (problem) ctx.addIssue({ code: 'custom', message: problem, path: ['maintenanceWindows', index] });
    });
    if (schedule.startAt && schedule.endAt && Date.parse(schedule.endAt) <= Date.parse(schedule.startAt))
      ctx.addIssue({ code: 'custom', message: 'endAt must be after startAt', path: ['endAt'] });
  });

export type ScheduleBody = z.output<typeof scheduleSchema>;

/** The schedule as the policy stores it (every field present). */
export function scheduleFromBody(body: ScheduleBody): RolloutSchedule {
  return {
    startAt: body.startAt ? new Date(body.startAt).toISOString() : null,
    endAt: body.endAt ? new Date(body.endAt).toISOString() : null,
    endBehavior: body.endBehavior,
    maintenanceWindows: body.maintenanceWindows ?? [],
    cutoffMinutes: body.cutoffMinutes,
  };
}
