import { AccountUnusableError } from '@fleet/accounts';
import type { RedisClient } from '@fleet/queue';
import { ApiError } from '@fleet/errors';
import type { Database } from '@fleet/db';
import { recentCallLatency } from '@fleet/db';
import type { DurationEstimate } from '@fleet/rollout-domain';
import { estimateRolloutDuration, planWaveSizes, resolveCount } from '@fleet/rollout-domain';
import { showValue } from './http/validate.ts';
import { readRolloutLimits } from './rollout-limits.ts';
import { policyFromCreateBody } from './rollout-policy-schemas.ts';
import type { PrecheckDeps, PrecheckResult } from './rollout-precheck.ts';
import { precheckInstances } from './rollout-precheck.ts';
import type { DryRunRolloutBody } from './rollout-schemas.ts';
import { INSTANCE_ID_MESSAGE, INSTANCE_ID_PATTERN } from './rollout-schemas.ts';

/**
 * A dry run of POST /v1/rollouts: what the rollout would be, computed from the request and read-only lookups (the
 * limits the workers publish in Redis, the account's recent call latency in Postgres). Nothing is written anywhere.
 */

/** The call latency assumed when the account has no recent call, in ms (stated in the plan). */
const DEFAULT_CALL_LATENCY_MS = 1000;
/** The account rate assumed when no worker has published one, in calls per second: the workers' default. */
const DEFAULT_ACCOUNT_RATE_RPS = 50;

type RefusedInstanceId = {
  /** Position in the request's `instanceIds`, from 0. */
  index: number;
  /** The value as sent, shown safely (quoted, cut after 40 characters; null for an object or an array). */
  value: string | null;
  reason: string;
};

export type RolloutPlan = {
  dryRun: true;
  userId: string;
  /** True when the same request without `dryRun` would be recorded (no id refused). */
  valid: boolean;
  instances: {
    /** Entries of `instanceIds` as sent. */
    requested: number;
    /** Distinct valid ids: the rollout's instances. */
    accepted: number;
    duplicatesRemoved: number;
    refused: number;
  };
  /** Every refused entry, in order. */
  refused: RefusedInstanceId[];
  waves: { wave: number; size: number }[];
  limits: {
    /** The rollout's concurrency as asked (a count or a share) and as resolved for its size. */
    concurrencySpec: number | `${number}%`;
    concurrency: number;
    /** The workers' global cap; null until a worker has published it. */
    globalConcurrency: number | null;
    /** The account's configured rate and its rate now (after adapting to throttling), calls per second. */
    accountRateLimitRps: number | null;
    accountRateNowRps: number | null;
  };
  estimate: DurationEstimate & {
    callLatencyMs: number;
    /** `recent_median`: the median of the account's recent calls (`latencySamples` of them); `default`: none. */
    latencySource: 'recent_median' | 'default';
    latencySamples: number;
    accountRatePerSecond: number;
    /** Which rate the estimate used: the account's rate now, the configured one, or the default. */
    rateSource: 'account_rate_now' | 'account_rate_limit' | 'default';
  };
  /** With `precheck: true`: every accepted instance's agent status, as CloudMonitor reports it; else null. */
  precheck: PrecheckResult | null;
};

/** Splits the ids into accepted (distinct, in first order) and refused (every one, with its index and reason). */
function checkInstanceIds(values: readonly unknown[]): {
  accepted: string[];
  duplicatesRemoved: number;
  refused: RefusedInstanceId[];
} {
  const seen = new Set<string>();
  const refused: RefusedInstanceId[] = [];
  let valid = 0;
  values.forEach((value, index) => {
    if (typeof value !== 'string') {
      refused.push({ index, value: showValue(value), reason: 'must be a string' });
    } else if (!INSTANCE_ID_PATTERN.test(value)) {
      refused.push({ index, value: showValue(value), reason: INSTANCE_ID_MESSAGE });
    } else {
      valid++;
      seen.add(value);
    }
  });
  return { accepted: [...seen], duplicatesRemoved: valid - seen.size, refused };
}

export type PlanDeps = {
  db: Database;
  redis: RedisClient;
  queuePrefix: string;
  /** What a pre-check calls CloudMonitor with; absent: `precheck: true` answers 503 (precheck_unavailable). */
  precheck?: Omit<PrecheckDeps, 'redis' | 'queuePrefix'> | undefined;
};

export async function planRollout(deps: PlanDeps, body: DryRunRolloutBody): Promise<RolloutPlan> {
  const { accepted, duplicatesRemoved, refused } = checkInstanceIds(body.instanceIds);
  const policy = policyFromCreateBody(body);
  const waveSizes = planWaveSizes(policy.waves, accepted.length);
  const concurrency = accepted.length > 0 ? resolveCount(policy.concurrency, accepted.length) : 0;
  const [limits, latency] = await Promise.all([
    readRolloutLimits(deps, body.userId),
    recentCallLatency(deps.db, body.userId),
  ]);
  const rate =
    limits?.accountRateNowRps != null
      ? { value: limits.accountRateNowRps, source: 'account_rate_now' as const }
      : limits?.accountRateLimitRps != null
        ? { value: limits.accountRateLimitRps, source: 'account_rate_limit' as const }
        : { value: DEFAULT_ACCOUNT_RATE_RPS, source: 'default' as const };
  const callLatencyMs = latency.medianMs !== null ? Math.max(1, Math.round(latency.medianMs)) : DEFAULT_CALL_LATENCY_MS;
  const estimate = estimateRolloutDuration({
    waveSizes,
    concurrency,
    globalConcurrency: limits?.globalConcurrency ?? null,
    accountRatePerSecond: rate.value,
    callLatencyMs,
  });
  let precheck: PrecheckResult | null = null;
  if (body.precheck) {
    if (!deps.precheck)
      throw new ApiError(
        503,
        'precheck_unavailable',
        'Pre-check unavailable',
        'this API has no CloudMonitor client to pre-check with (set CMS_ENDPOINT and the AccessKey pair)',
      );
    precheck = await precheckInstances(
      { ...deps.precheck, redis: deps.redis, queuePrefix: deps.queuePrefix },
      {
        userId: body.userId,
        driver: policy.driver,
        instanceIds: accepted,
        accountRateLimitRps: limits?.accountRateLimitRps ?? DEFAULT_ACCOUNT_RATE_RPS,
      },
    ).catch((error: unknown) => {
      // The account's stored credentials cannot be used here (no FLEET_ENCRYPTION_KEY, a key that does not open
      // them, an endpoint outside the allowlist): its calls would fail alike, so there is nothing to pre-check with.
      if (error instanceof AccountUnusableError)
        throw new ApiError(503, 'precheck_unavailable', 'Pre-check unavailable', error.message, [], { cause: error });
      throw error;
    });
  }
  return {
    dryRun: true,
    userId: body.userId,
    valid: refused.length === 0,
    instances: {
      requested: body.instanceIds.length,
      accepted: accepted.length,
      duplicatesRemoved,
      refused: refused.length,
    },
    refused,
    waves: waveSizes.map((size, index) => ({ wave: index + 1, size })),
    limits: {
      concurrencySpec: policy.concurrency,
      concurrency,
      globalConcurrency: limits?.globalConcurrency ?? null,
      accountRateLimitRps: limits?.accountRateLimitRps ?? null,
      accountRateNowRps: limits?.accountRateNowRps ?? null,
    },
    estimate: {
      ...estimate,
      callLatencyMs,
      latencySource: latency.medianMs !== null ? 'recent_median' : 'default',
      latencySamples: latency.samples,
      accountRatePerSecond: rate.value,
      rateSource: rate.source,
    },
    precheck,
  };
}
