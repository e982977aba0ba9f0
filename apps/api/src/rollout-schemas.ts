import { z } from 'zod';
import { policyFields } from './rollout-policy-schemas.ts';
import { DEFAULT_RETRY_POLICY, INSTANCE_STATES, ROLLOUT_STATUSES } from '@fleet/rollout-domain';

/** An Alibaba account UID: 16 digits, kept as a string (it does not fit a JS number exactly). */
export const userIdSchema = z.string().regex(/^\d{16}$/, 'must be a 16-digit Alibaba Cloud account UserId');

/** ECS instance ids: `i-` then lowercase letters and digits (old ones are short, current ones 22 characters). */
export const INSTANCE_ID_PATTERN = /^i-[a-z0-9]{1,62}$/;
export const INSTANCE_ID_MESSAGE = 'must be an ECS instance id: "i-" followed by lowercase letters and digits';
export const instanceIdSchema = z.string().regex(INSTANCE_ID_PATTERN, INSTANCE_ID_MESSAGE);

const retryPolicySchema = z
  .strictObject({
    /** Most NodeInstall calls per instance, the first included. */
    maxAttempts: z.number().int().min(1).max(10).default(DEFAULT_RETRY_POLICY.maxAttempts),
    /** Backoff before the second attempt, in ms (doubles per attempt, with jitter). */
    baseDelayMs: z.number().int().min(10).max(600_000).default(DEFAULT_RETRY_POLICY.baseDelayMs),
    /** Longest backoff, in ms. */
    maxDelayMs: z.number().int().min(10).max(3_600_000).default(DEFAULT_RETRY_POLICY.maxDelayMs),
  })
  .refine((r) => r.maxDelayMs >= r.baseDelayMs, {
    message: 'maxDelayMs must not be below baseDelayMs',
    path: ['maxDelayMs'],
  });

/** The fields of POST /v1/rollouts, a dry run's included; `instanceIds` checks each id with `ids`. */
function createRolloutShape<T extends z.ZodType>(maxInstances: number, ids: T) {
  return {
    userId: userIdSchema,
    instanceIds: z
      .array(ids)
      .min(1, 'must list at least one instance id')
      .max(maxInstances, `must list at most ${maxInstances} instance ids`),
    /** Reinstall even where the agent already runs. */
    force: z.boolean().default(false),
    retry: retryPolicySchema.default({ ...DEFAULT_RETRY_POLICY }),
    /** concurrency (a number or "10%"), waves, waveSuccessThresholdPercent, abort, instanceTimeoutMs. */
    ...policyFields,
    dryRun: z
      .boolean()
      .default(false)
      .describe('true: answer 200 with the plan (rollout-plan) and record nothing: no rollout, job, key or event'),
    precheck: z
      .boolean()
      .default(false)
      .describe(
        "with dryRun: ask CloudMonitor (NodeStatusList) for every instance's agent status, under the account's rate",
      ),
  };
}

export function createRolloutSchema(maxInstances: number) {
  return z.strictObject(createRolloutShape(maxInstances, instanceIdSchema));
}

/**
 * A dry run's body: the same fields and checks, except that the instance ids are checked one by one by the plan
 * (every refused id listed with its index and reason) rather than refusing the request at the first.
 */
export function dryRunRolloutSchema(maxInstances: number) {
  return z.strictObject({ ...createRolloutShape(maxInstances, z.unknown()), dryRun: z.literal(true) });
}
export type DryRunRolloutBody = z.output<ReturnType<typeof dryRunRolloutSchema>>;

export const rolloutIdSchema = z.string().uuid('must be a rollout id (UUID)');

export const listInstancesQuerySchema = z.strictObject({
  state: z.enum(INSTANCE_STATES as [string, ...string[]]).optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  cursor: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,40}$/, 'must be a cursor returned by a previous page')
    .optional(),
});

export const listRolloutsQuerySchema = z.strictObject({
  /** Only this account's rollouts (404 when the API key may not see it). */
  userId: userIdSchema.optional(),
  status: z.enum(ROLLOUT_STATUSES as [string, ...string[]]).optional(),
  /** Only rollouts that hold this instance. */
  instanceId: instanceIdSchema.optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,100}$/, 'must be a cursor returned by a previous page')
    .optional(),
});
