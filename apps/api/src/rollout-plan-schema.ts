import { z } from 'zod';

/**
 * The shape of a dry run's plan (the 200 of POST /v1/rollouts with `dryRun: true`), for the OpenAPI document and the
 * contract tests; the web console's New rollout page shows it. Not strict: a field added is not a breaking change.
 */

const waveEstimateSchema = z.object({
  wave: z.number().int(),
  size: z.number().int(),
  inFlight: z.number().int().describe('calls at once: min(concurrency, globalConcurrency, size)'),
  ratePerSecond: z.number().describe('instances finished per second in this wave'),
  boundBy: z.enum(['concurrency', 'account_rate']).describe('which bound sets ratePerSecond'),
  seconds: z.number(),
});

const precheckSchema = z
  .object({
    calls: z
      .number()
      .int()
      .describe("status calls made (the driver's: NodeStatusList or DescribeMonitoringAgentStatuses, 50 ids each)"),
    counts: z.object({
      skip: z.number().int().describe('agent running: `skipped` with skipInstalled'),
      install: z.number().int().describe('any other status: would be installed'),
      not_found: z.number().int().describe('unknown to CloudMonitor: would fail as instance_not_found'),
      unchecked: z.number().int().describe('their call failed'),
    }),
    byStatus: z.record(z.string(), z.number().int()).describe('instances per reported agent status'),
    running: z.array(z.string()),
    wouldInstall: z.array(z.object({ instanceId: z.string(), status: z.string() })),
    notFound: z.array(z.string()),
    noCloudAssistant: z
      .array(z.string())
      .describe(
        'driver install-monitoring-agent: reported not_installed with AutoInstall false (no Cloud Assistant client); ' +
          'counted under install, but InstallMonitoringAgent would never install them (cloud_assistant_missing)',
      ),
    unchecked: z.array(
      z.object({ instanceId: z.string(), errorCode: z.string().nullable(), requestId: z.string().nullable() }),
    ),
  })
  .nullable()
  .describe('with precheck: true, every accepted instance by its agent status; else null');

export const rolloutPlanSchema = z.object({
  dryRun: z.literal(true),
  userId: z.string(),
  valid: z.boolean().describe('true when the same request without dryRun would be recorded (no id refused)'),
  instances: z.object({
    requested: z.number().int().describe('entries of instanceIds as sent'),
    accepted: z.number().int().describe("distinct valid ids: the rollout's instances"),
    duplicatesRemoved: z.number().int(),
    refused: z.number().int(),
  }),
  refused: z
    .array(
      z.object({
        index: z.number().int().describe('position in instanceIds, from 0'),
        value: z.string().nullable().describe('the value as sent, quoted and cut after 40 characters'),
        reason: z.string().describe('what is allowed'),
      }),
    )
    .describe('every refused entry, in order'),
  waves: z.array(z.object({ wave: z.number().int(), size: z.number().int() })),
  limits: z.object({
    concurrencySpec: z.union([z.number().int(), z.string()]).describe('as asked: a count or a share ("10%")'),
    concurrency: z.number().int().describe('resolved for the rollout size'),
    globalConcurrency: z.number().int().nullable().describe("the workers' global cap (null: none published yet)"),
    accountRateLimitRps: z.number().nullable(),
    accountRateNowRps: z.number().nullable().describe('after adapting to throttling'),
  }),
  estimate: z.object({
    seconds: z.number().int().describe('the whole rollout, rounded up'),
    waves: z.array(waveEstimateSchema),
    formula: z.string(),
    callLatencyMs: z.number().int(),
    latencySource: z
      .enum(['recent_median', 'default'])
      .describe("the median of the account's recent calls, or the default of 1000 ms"),
    latencySamples: z.number().int(),
    accountRatePerSecond: z.number(),
    rateSource: z.enum(['account_rate_now', 'account_rate_limit', 'default']),
  }),
  precheck: precheckSchema,
});
