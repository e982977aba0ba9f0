import { z } from 'zod';
import { API_ROLES } from '@fleet/db';
import { FLEET_EVENT_TYPES, INSTANCE_STATES, ROLLOUT_STATUSES } from '@fleet/rollout-domain';

/**
 * Shapes of the answers, for the OpenAPI document and for the contract tests that check real answers against
 * them. Objects are not strict: a field added to an answer is not a breaking change.
 */

const isoDate = z.iso.datetime({ offset: true });

export const problemSchema = z.object({
  type: z.string(),
  title: z.string(),
  status: z.number().int(),
  detail: z.string(),
  instance: z.string().optional(),
  code: z.string().describe('machine-readable error code'),
  requestId: z.string().optional(),
  errors: z
    .array(
      z.object({
        field: z.string().describe('the field at fault: `instanceIds[3]` (body), `limit` (query), `id` (path)'),
        pointer: z
          .string()
          .describe(
            'RFC 6901 JSON pointer: into the body when `in` is body (or absent), else to the parameter by name (`/id`)',
          ),
        message: z.string().describe('what is allowed, and the value refused (cut after 40 characters)'),
        in: z.enum(['body', 'query', 'path', 'header']).optional().describe('where the field is'),
      }),
    )
    .optional(),
});

export const countsSchema = z.object({
  total: z.number().int(),
  ...Object.fromEntries(INSTANCE_STATES.map((s) => [s, z.number().int()])),
});

const progressSchema = z
  .object({
    done: z.number().int().describe('instances in a final state (succeeded, failed, cancelled, skipped)'),
    total: z.number().int(),
    fraction: z.number().describe('done / total, 0..1'),
    ratePerSecond: z
      .number()
      .nullable()
      .describe('instances finished per second over `windowSeconds`; null once the rollout is completed or cancelled'),
    windowSeconds: z
      .number()
      .describe(
        "seconds the rate is measured over: the last 60, or the rollout's age while it is younger (at least 1; 0.1 s steps)",
      ),
    etaSeconds: z
      .number()
      .int()
      .nullable()
      .describe(
        'seconds until every instance is final at that rate; 0 when all are; ' +
          'null when nothing finished in the window, while paused, and once completed or cancelled',
      ),
    etaAt: isoDate.nullable().describe('the time of `etaSeconds`; null when it is null'),
  })
  .describe('how far and how fast (GET /v1/rollouts/:id only)');

export const rolloutSchema = z.object({
  id: z.uuid(),
  userId: z.string(),
  status: z.enum(ROLLOUT_STATUSES as [string, ...string[]]),
  statusReason: z.string().nullable(),
  force: z.boolean(),
  concurrency: z.number().int(),
  policy: z.record(z.string(), z.unknown()),
  wave: z.object({
    current: z.number().int().describe('the wave now allowed to run (1-based)'),
    count: z.number().int(),
  }),
  limits: z
    .object({
      concurrency: z.number().int().describe("this rollout's calls in flight, across all workers"),
      globalConcurrency: z
        .number()
        .int()
        .nullable()
        .describe('calls in flight over all rollouts (null: no worker has started yet)'),
      accountRateLimitRps: z.number().nullable().describe("the account's configured NodeInstall rate"),
      accountRateNowRps: z.number().nullable().describe("the account's rate now, after adapting to throttling"),
    })
    .describe('the limits in force'),
  counts: countsSchema,
  progress: progressSchema.optional(),
  createdAt: isoDate,
  updatedAt: isoDate,
  finishedAt: isoDate.nullable(),
  enqueued: z.boolean().describe('every instance has been handed to the queue'),
  parentRolloutId: z
    .uuid()
    .nullable()
    .describe('the rollout this one retries (POST /v1/rollouts/:id/retry); null for a first rollout'),
  nextWindowAt: isoDate
    .nullable()
    .describe('scheduled: its startAt; waiting_for_window: when the next maintenance window opens; else null'),
  callsUntil: isoDate
    .nullable()
    .describe(
      "running under a schedule: the last moment a call may start (the window's end less its cutoff); null: no bound",
    ),
});

export const createdRolloutSchema = rolloutSchema.extend({
  duplicatesRemoved: z.number().int().describe('instance ids given more than once'),
});

/** The 202 of POST /v1/rollouts/:id/retry. */
export const retriedRolloutSchema = rolloutSchema.extend({
  parentRolloutId: z.uuid().describe('the rollout retried'),
  retryOf: z.object({
    rolloutId: z.uuid(),
    cause: z.string().nullable().describe('the failure cause retried, if one was chosen'),
    instances: z.number().int().describe('instances in the retry'),
  }),
});

const rolloutSummarySchema = rolloutSchema.omit({ progress: true, policy: true, wave: true, limits: true }).extend({
  totalInstances: z.number().int(),
  createdBy: z
    .object({ kind: z.literal('api_key'), id: z.uuid(), name: z.string().nullable() })
    .nullable()
    .describe('the API key that created it (null: made another way, e.g. by the CLI)'),
});

export const rolloutPageSchema = z.object({ items: z.array(rolloutSummarySchema), nextCursor: z.string().nullable() });

const instanceSchema = z.object({
  instanceId: z.string(),
  state: z.enum(INSTANCE_STATES as [string, ...string[]]),
  attemptCount: z.number().int(),
  lastError: z
    .object({
      outcome: z.string().nullable(),
      httpStatus: z.number().int().nullable(),
      code: z.string().nullable(),
      message: z.string().nullable(),
      requestId: z.string().nullable(),
    })
    .nullable(),
  lastRequestId: z.string().nullable(),
  nextAttemptAt: isoDate.nullable(),
  needsManualInstall: z.boolean(),
  manualInstallReason: z.string().nullable(),
  createdAt: isoDate,
  updatedAt: isoDate,
  startedAt: isoDate.nullable(),
  finishedAt: isoDate.nullable(),
});

export const instancePageSchema = z.object({ items: z.array(instanceSchema), nextCursor: z.string().nullable() });

const attemptSchema = z.object({
  attemptNo: z.number().int().describe('1 and up for NodeInstall calls; 0 for the status check of skipInstalled'),
  kind: z
    .enum(['install', 'status_check'])
    .describe('a NodeInstall call, or the NodeStatusList check made before the first one under skipInstalled'),
  startedAt: isoDate.describe(
    'when the request went, by the worker clock, once its answer is recorded; before that (and for a replay), the start it was claimed for',
  ),
  finishedAt: isoDate.nullable(),
  durationMs: z.number().int().nullable(),
  httpStatus: z.number().int().nullable(),
  success: z.boolean().nullable(),
  errorCode: z.string().nullable(),
  errorMessage: z.string().nullable(),
  requestId: z.string().nullable().describe('the RequestId CloudMonitor answered'),
  outcome: z.string().nullable(),
  outcomeKind: z.string().nullable(),
  callId: z
    .uuid()
    .nullable()
    .describe(
      'the InstallMonitoringAgent call this attempt was one instance of (driver install-monitoring-agent); null for NodeInstall',
    ),
  callInstanceIds: z
    .array(z.string())
    .nullable()
    .describe('every instance that call named, in the order it sent them (this one included); null for NodeInstall'),
});

export const instanceDetailSchema = instanceSchema.extend({
  rolloutId: z.uuid(),
  verification: z
    .string()
    .nullable()
    .describe('after a successful install: pending, verified or failed (null: not applicable yet)'),
  agentStatus: z.string().nullable().describe('the agent status NodeStatus last reported'),
  verifiedAt: isoDate.nullable(),
  attempts: z.array(attemptSchema),
});

export const apiKeySchema = z.object({
  id: z.uuid(),
  name: z.string(),
  keyPrefix: z.string().describe('the first characters of the key, to tell keys apart'),
  role: z.enum(API_ROLES),
  userIds: z.array(z.string()),
  allAccounts: z.boolean(),
  createdAt: isoDate,
  createdById: z.uuid().nullable(),
  revokedAt: isoDate.nullable(),
  lastUsedAt: isoDate.nullable(),
});

export const createdApiKeySchema = apiKeySchema.extend({
  key: z.string().describe('the key itself: shown in this answer only, store it now'),
});

export const apiKeyListSchema = z.object({ items: z.array(apiKeySchema) });

export const healthSchema = z.object({ status: z.literal('ok') });

export const readinessSchema = z.object({
  status: z.enum(['ready', 'unavailable']),
  dependencies: z.object({ postgres: z.enum(['up', 'down']), redis: z.enum(['up', 'down']) }),
});

const eventActorSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('api_key'), id: z.string().describe('the API key id'), name: z.string() }),
  z.object({ kind: z.literal('worker'), id: z.string().describe('WORKER_ID') }),
  z.object({ kind: z.literal('reconciler'), id: z.string().describe('RECONCILER_ID') }),
  z.object({ kind: z.literal('notifier'), id: z.string().describe('NOTIFIER_ID') }),
  z.object({ kind: z.literal('system'), id: z.string().describe('fleet-cli, bootstrap or direct') }),
]);

const fleetEventSchema = z.object({
  id: z.string().describe('the event id: a whole number, increasing in commit order'),
  type: z.enum(FLEET_EVENT_TYPES),
  rolloutId: z.uuid().nullable(),
  userId: z.string().nullable().describe("the account; null for an API key's events (see data.userIds)"),
  actor: eventActorSchema,
  requestId: z.string().nullable().describe('X-Request-Id of the API request that made the change'),
  data: z.unknown().describe("the type's facts (docs/api.md, Events)"),
  createdAt: isoDate,
});

export const eventPageSchema = z.object({
  items: z.array(fleetEventSchema),
  nextCursor: z.string().nullable().describe('pass as `after` for the next page; null on the last page so far'),
});
