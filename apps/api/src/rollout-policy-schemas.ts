import { z } from 'zod';
import { ValidationError } from '@fleet/errors';
import type { InstallDriver, RolloutPolicy } from '@fleet/rollout-domain';
import {
  INSTALL_DRIVERS,
  DEFAULT_RETRY_POLICY,
  DEFAULT_WAVE_SUCCESS_THRESHOLD_PERCENT,
  defaultPolicy,
} from '@fleet/rollout-domain';
import type { ScheduleBody } from './schedule-schema.ts';
import { scheduleFromBody, scheduleSchema } from './schedule-schema.ts';

/**
 * An integer from 1 to `max`, or a percentage above 0% and at most 100% with up to two decimals ("10%", "2.5%"),
 * every refusal saying the whole allowed range in `message` (a union alone answers zod's "Invalid input").
 */
function countOrPercentSchema(max: number, message: string) {
  return z.union(
    [
      z.number({ error: message }).int({ error: message }).min(1, { error: message }).max(max, { error: message }),
      z
        .string()
        // abort: a string that is no percentage at all gets this one message, not the refinement's too.
        .regex(/^(100|[1-9]?\d)(\.\d{1,2})?%$/, { error: message, abort: true })
        .refine((s) => Number(s.slice(0, -1)) > 0, 'a percentage must be above 0%') as z.ZodType<`${number}%`>,
    ],
    { error: message },
  );
}

const COUNT_SPEC_MESSAGE = 'must be an integer from 1 to 100000, or a percentage such as "10%"';
const CONCURRENCY_MESSAGE = 'must be an integer from 1 to 10000, or a percentage such as "10%"';

/** A count of instances, or a share of the rollout such as "10%" or "2.5%". */
const countSpecSchema = countOrPercentSchema(100_000, COUNT_SPEC_MESSAGE);

/** Most NodeInstall calls in flight: a number of calls, or a share of the rollout's instances. */
const concurrencySchema = countOrPercentSchema(10_000, CONCURRENCY_MESSAGE);

const wavePlanSchema = z.union([
  /** Explicit wave sizes; the last one repeats until every instance has a wave, e.g. [1, 5, "20%"]. */
  z.strictObject({ sizes: z.array(countSpecSchema).min(1).max(100) }),
  /** A canary wave, then each wave growthFactor times the previous. */
  z.strictObject({ canary: countSpecSchema, growthFactor: z.number().min(1.1).max(10) }),
]);

const abortPolicySchema = z.strictObject({
  /** Cancel the rest once failed / finished reaches this percentage... */
  failureThresholdPercent: z.number().gt(0).max(100),
  /** ...and at least this many instances have finished. */
  minFinished: z.number().int().min(1).max(100_000).default(10),
});

const retryPatchSchema = z.strictObject({
  maxAttempts: z.number().int().min(1).max(10).optional(),
  baseDelayMs: z.number().int().min(10).max(600_000).optional(),
  maxDelayMs: z.number().int().min(10).max(3_600_000).optional(),
});

/** Policy fields accepted when a rollout is created (all optional, with defaults). */
export const policyFields = {
  /** The install action: NodeInstall (one instance a call) or InstallMonitoringAgent (2019-01-01, up to 10 a call). */
  driver: z
    .enum(INSTALL_DRIVERS as [InstallDriver, ...InstallDriver[]], {
      error: `must be one of ${INSTALL_DRIVERS.map((d) => `"${d}"`).join(', ')}`,
    })
    .default('node-install')
    .describe(
      '`node-install` (NodeInstall, one instance per call) or `install-monitoring-agent` ' +
        '(InstallMonitoringAgent of API 2019-01-01, up to 10 instances of the rollout per call; hosts need Cloud Assistant)',
    ),
  /** Most NodeInstall calls in flight for this rollout across all workers: a number (1..10000) or a share ("10%"). */
  concurrency: concurrencySchema.default(50),
  waves: wavePlanSchema.optional(),
  /** A finished wave lets the next start only at or above this success rate (percent). */
  waveSuccessThresholdPercent: z.number().min(0).max(100).default(DEFAULT_WAVE_SUCCESS_THRESHOLD_PERCENT),
  abort: abortPolicySchema.optional(),
  /** Longest time from an instance's first call to its final state, in ms; past it the instance fails (timed out). */
  instanceTimeoutMs: z
    .number()
    .int()
    .min(1000)
    .max(7 * 24 * 3600 * 1000)
    .optional(),
  /** Before an instance's first NodeInstall, ask NodeStatus: an agent already running ends it `skipped`. */
  skipInstalled: z
    .boolean()
    .default(false)
    .describe('an instance whose agent already runs ends `skipped` with no NodeInstall; not with force: true'),
  /** startAt, endAt and endBehavior, maintenance windows, cutoffMinutes: when calls may start. */
  schedule: scheduleSchema.optional(),
};

/** PATCH /v1/rollouts/:id: any of the live-changeable policy fields; null removes an optional one. */
export const patchRolloutSchema = z
  .strictObject({
    concurrency: concurrencySchema.optional(),
    retry: retryPatchSchema.optional(),
    waveSuccessThresholdPercent: z.number().min(0).max(100).optional(),
    abort: abortPolicySchema.nullable().optional(),
    instanceTimeoutMs: z
      .number()
      .int()
      .min(1000)
      .max(7 * 24 * 3600 * 1000)
      .nullable()
      .optional(),
    /** A new schedule for an open rollout (the scheduler applies it at its next pass); null removes it. */
    schedule: scheduleSchema.nullable().optional(),
  })
  .refine((p) => Object.keys(p).length > 0, { message: 'name at least one policy field to change' });
export type PatchRolloutBody = z.output<typeof patchRolloutSchema>;

/** The policy a new rollout runs with. */
export function policyFromCreateBody(body: {
  driver: InstallDriver;
  concurrency: number | `${number}%`;
  retry: RolloutPolicy['retry'];
  waves?: RolloutPolicy['waves'] | undefined;
  waveSuccessThresholdPercent: number;
  abort?: RolloutPolicy['abort'] | undefined;
  instanceTimeoutMs?: number | undefined;
  skipInstalled: boolean;
  schedule?: ScheduleBody | undefined;
}): RolloutPolicy {
  return {
    ...defaultPolicy(),
    driver: body.driver,
    concurrency: body.concurrency,
    retry: { ...DEFAULT_RETRY_POLICY, ...body.retry },
    waves: body.waves ?? null,
    waveSuccessThresholdPercent: body.waveSuccessThresholdPercent,
    abort: body.abort ?? null,
    instanceTimeoutMs: body.instanceTimeoutMs ?? null,
    skipInstalled: body.skipInstalled,
    schedule: body.schedule ? scheduleFromBody(body.schedule) : null,
  };
}

/** Fields that contradict each other, refused with a 400 naming the field (after the schema's own checks). */
export function assertConsistentPolicy(body: { force: boolean; skipInstalled: boolean }): void {
  if (body.force && body.skipInstalled)
    throw new ValidationError('rollout is invalid: skipInstalled: contradicts force: true', [
      {
        path: 'skipInstalled',
        message:
          'skipInstalled leaves running agents be and force reinstalls them: give one; got true with force: true',
        in: 'body',
      },
    ]);
}

/** The policy after a PATCH. */
export function applyPolicyPatch(current: RolloutPolicy, patch: PatchRolloutBody): RolloutPolicy {
  const retry = { ...current.retry, ...(patch.retry ?? {}) };
  if (retry.maxDelayMs < retry.baseDelayMs) retry.maxDelayMs = retry.baseDelayMs;
  return {
    ...current,
    ...(patch.concurrency !== undefined ? { concurrency: patch.concurrency } : {}),
    ...(patch.waveSuccessThresholdPercent !== undefined
      ? { waveSuccessThresholdPercent: patch.waveSuccessThresholdPercent }
      : {}),
    ...(patch.abort !== undefined ? { abort: patch.abort } : {}),
    ...(patch.instanceTimeoutMs !== undefined ? { instanceTimeoutMs: patch.instanceTimeoutMs } : {}),
    ...(patch.schedule !== undefined ? { schedule: patch.schedule ? scheduleFromBody(patch.schedule) : null } : {}),
    retry,
  };
}
