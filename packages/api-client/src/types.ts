/**
 * The shapes of the API's answers that clients read (docs/api.md; the OpenAPI document at /openapi.json is the
 * whole truth). Objects may carry more fields than named here: an added field is not a breaking change.
 */

export const ROLLOUT_STATUSES = [
  'running',
  'paused',
  'completed',
  'cancelled',
  'scheduled',
  'waiting_for_window',
] as const;
export type RolloutStatus = (typeof ROLLOUT_STATUSES)[number];
export const INSTANCE_STATES = ['pending', 'in_progress', 'succeeded', 'failed', 'cancelled', 'skipped'] as const;
export type InstanceState = (typeof INSTANCE_STATES)[number];
export const FLAG_STATUSES = ['open', 'acknowledged', 'resolved', 'closed'] as const;
export type FlagStatus = (typeof FLAG_STATUSES)[number];
export const API_ROLES = ['viewer', 'operator', 'admin'] as const;
export type ApiRole = (typeof API_ROLES)[number];
/** policy.driver: the install action (docs/api.md). `node-install` is the default, and what a policy without one means. */
export const INSTALL_DRIVERS = ['node-install', 'install-monitoring-agent'] as const;
export type InstallDriver = (typeof INSTALL_DRIVERS)[number];

/** A rollout's driver as its policy states it; `node-install` when it states none (a rollout from before drivers). */
export function driverOf(rollout: { policy?: Record<string, unknown> | null }): InstallDriver {
  const stated = rollout.policy?.['driver'];
  return (INSTALL_DRIVERS as readonly unknown[]).includes(stated) ? (stated as InstallDriver) : 'node-install';
}

/** A count of instances or a share of the rollout: `50` or `"10%"`. */
export type CountSpec = number | `${number}%`;

export type WavePlan = { sizes: CountSpec[] } | { canary: CountSpec; growthFactor: number };

export type CreateRolloutBody = {
  userId: string;
  instanceIds: string[];
  force?: boolean;
  /** `node-install` (default) or `install-monitoring-agent` (InstallMonitoringAgent, up to 10 instances a call). */
  driver?: InstallDriver;
  concurrency?: CountSpec;
  retry?: { maxAttempts?: number; baseDelayMs?: number; maxDelayMs?: number };
  waves?: WavePlan;
  waveSuccessThresholdPercent?: number;
  abort?: { failureThresholdPercent: number; minFinished?: number };
  instanceTimeoutMs?: number;
  /** Leave running agents be: such an instance ends `skipped` with no NodeInstall. Not with `force`. */
  skipInstalled?: boolean;
  schedule?: RolloutScheduleBody;
};

/** When a rollout may start calls (docs/api.md, Schedules). */
export type RolloutScheduleBody = {
  startAt?: string;
  endAt?: string;
  endBehavior?: 'pause' | 'cancel';
  maintenanceWindows?: { cron: string; durationMinutes: number; timezone: string }[];
  cutoffMinutes?: number;
};

export type PatchRolloutBody = {
  concurrency?: CountSpec;
  retry?: { maxAttempts?: number; baseDelayMs?: number; maxDelayMs?: number };
  waveSuccessThresholdPercent?: number;
  abort?: { failureThresholdPercent: number; minFinished?: number } | null;
  instanceTimeoutMs?: number | null;
  schedule?: RolloutScheduleBody | null;
};

export type InstanceCounts = Record<InstanceState, number> & { total: number };

export type RolloutProgress = {
  done: number;
  total: number;
  fraction: number;
  ratePerSecond: number | null;
  windowSeconds: number;
  etaSeconds: number | null;
  etaAt: string | null;
};

export type Rollout = {
  id: string;
  userId: string;
  status: RolloutStatus;
  statusReason: string | null;
  force: boolean;
  concurrency: number;
  policy: Record<string, unknown>;
  wave: { current: number; count: number };
  limits: {
    concurrency: number;
    globalConcurrency: number | null;
    accountRateLimitRps: number | null;
    accountRateNowRps: number | null;
  };
  counts: InstanceCounts;
  progress?: RolloutProgress;
  createdAt: string;
  updatedAt: string;
  finishedAt: string | null;
  enqueued: boolean;
  parentRolloutId: string | null;
  /** scheduled: its startAt; waiting_for_window: when the next window opens. */
  nextWindowAt: string | null;
  /** Running under a schedule: the last moment a call may start. */
  callsUntil: string | null;
};

export type CreatedRollout = Rollout & { duplicatesRemoved: number };

/** The 200 of POST /v1/rollouts with `dryRun: true` (docs/api.md, Dry run): nothing was recorded. */
export type RolloutPlan = {
  dryRun: true;
  userId: string;
  /** True when the same request without dryRun would be recorded. */
  valid: boolean;
  instances: { requested: number; accepted: number; duplicatesRemoved: number; refused: number };
  refused: { index: number; value: string | null; reason: string }[];
  waves: { wave: number; size: number }[];
  limits: {
    concurrencySpec: CountSpec;
    concurrency: number;
    globalConcurrency: number | null;
    accountRateLimitRps: number | null;
    accountRateNowRps: number | null;
  };
  estimate: {
    seconds: number;
    waves: {
      wave: number;
      size: number;
      inFlight: number;
      ratePerSecond: number;
      boundBy: 'concurrency' | 'account_rate';
      seconds: number;
    }[];
    formula: string;
    callLatencyMs: number;
    latencySource: 'recent_median' | 'default';
    latencySamples: number;
    accountRatePerSecond: number;
    rateSource: 'account_rate_now' | 'account_rate_limit' | 'default';
  };
};
export type ChangedRollout = Rollout & { changed: boolean };
export type RetriedRollout = Rollout & {
  retryOf: { rolloutId: string; cause: string | null; instances: number };
};

export type RolloutSummary = Omit<Rollout, 'progress' | 'policy' | 'wave' | 'limits'> & {
  totalInstances: number;
  /** The API key that created it (null: made another way). */
  createdBy: { kind: 'api_key'; id: string; name: string | null } | null;
};

/** GET /v1/rollouts/:id/waves. */
export type RolloutWaves = { current: number; count: number; items: { wave: number; counts: InstanceCounts }[] };

/** GET /v1/me: the key making the request. */
export type Me = {
  keyId: string;
  keyName: string;
  keyPrefix: string;
  role: ApiRole;
  allAccounts: boolean;
  userIds: string[];
};

export type Page<T> = { items: T[]; nextCursor: string | null };

export type Instance = {
  instanceId: string;
  state: InstanceState;
  attemptCount: number;
  lastError: {
    outcome: string | null;
    httpStatus: number | null;
    code: string | null;
    message: string | null;
    requestId: string | null;
  } | null;
  lastRequestId: string | null;
  nextAttemptAt: string | null;
  needsManualInstall: boolean;
  manualInstallReason: string | null;
  createdAt: string;
  updatedAt: string;
  startedAt: string | null;
  finishedAt: string | null;
};

export type Attempt = {
  attemptNo: number;
  startedAt: string;
  finishedAt: string | null;
  durationMs: number | null;
  httpStatus: number | null;
  success: boolean | null;
  errorCode: string | null;
  errorMessage: string | null;
  requestId: string | null;
  outcome: string | null;
  outcomeKind: string | null;
};

export type InstanceDetail = Instance & {
  rolloutId: string;
  verification: string | null;
  agentStatus: string | null;
  verifiedAt: string | null;
  attempts: Attempt[];
};

export type FailureGroup = {
  cause: string;
  kind: string;
  errorCode: string;
  normalisedMessage: string;
  sampleMessage: string | null;
  count: number;
  manualInstallReasons: Record<string, number>;
  recommendedAction: string;
  instances: { instanceId: string; lastRequestId: string | null; attempts: number }[];
  instancesTruncated: boolean;
};

export type FailureReport = {
  rolloutId?: string;
  status?: RolloutStatus;
  counts: InstanceCounts;
  failures: { total: number; causes: number; groups: FailureGroup[] };
  [field: string]: unknown;
};

export type ManualInstallFlag = {
  id: string;
  rolloutId: string;
  rolloutIds: string[];
  userId: string;
  instanceId: string;
  reason: string;
  recommendedAction: string;
  detail: string | null;
  lastRequestId: string | null;
  status: FlagStatus;
  note: string | null;
  [field: string]: unknown;
};

export type ApiKey = {
  id: string;
  name: string;
  keyPrefix: string;
  role: ApiRole;
  userIds: string[];
  allAccounts: boolean;
  createdAt: string;
  createdById: string | null;
  revokedAt: string | null;
  lastUsedAt: string | null;
};

export type CreatedApiKey = ApiKey & { key: string };

export type CreateApiKeyBody =
  { name: string; role: ApiRole; userIds: string[] } | { name: string; role: ApiRole; allAccounts: true };

/** A fleet event (GET /v1/rollouts/:id/events, the stream, the audit trail). `type` e.g. `rollout.wave_started`. */
export type FleetEvent = {
  id: string;
  type: string;
  rolloutId: string | null;
  userId: string | null;
  actor?: { kind: string; id: string; name?: string };
  requestId?: string | null;
  data: Record<string, unknown>;
  createdAt: string;
};
