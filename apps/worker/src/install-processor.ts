import type { Job } from 'bullmq';
import { DelayedError } from 'bullmq';
import pRetry from 'p-retry';
import type { CallResult, CmsClient } from '@fleet/cms-client';
import { attemptOutcomeClass } from '@fleet/cms-client';
import type { Database, FinishResult } from '@fleet/db';
import { claimAttempt, completeRolloutIfDone, finishAttempt, isDatabaseUnavailableError } from '@fleet/db';
import type { AccountRateLimiter, GlobalConcurrency } from '@fleet/limits';
import type { Logger } from '@fleet/logger';
import { withLogContext } from '@fleet/logger';
import type { InstallJobData } from '@fleet/queue';
import type { RolloutControlDeps } from '@fleet/rollout-control';
import { abortIfThresholdCrossed, advanceWaves, pauseRollout } from '@fleet/rollout-control';
import type { AttemptVerdict } from '@fleet/rollout-domain';
import { manualInstallReasonFor, retryDelayMs } from '@fleet/rollout-domain';
import type { RolloutCache, RolloutSettings } from './rollout-cache.ts';

export type InstallProcessorDeps = {
  db: Database;
  cms: CmsClient;
  rollouts: RolloutCache;
  /** Rollout-wide operations (waves, abort, fleet-wide pause); its Redis connection may be the worker's. */
  control: RolloutControlDeps;
  globalConcurrency: GlobalConcurrency;
  accountRate: AccountRateLimiter;
  logger: Logger;
  workerId: string;
  /** Deadline of one NodeInstall call, in ms; an unfinished attempt older than this plus a grace is abandoned. */
  callTimeoutMs: number;
  random?: () => number;
  now?: () => Date;
};

/** Grace beyond the call timeout before another worker presumes a call's worker dead. */
const STALE_GRACE_MS = 5_000;
/** A rollout's abort threshold is evaluated at most this often per process, in ms. */
const ABORT_CHECK_INTERVAL_MS = 250;

export type InstallJobOutcome =
  | 'skipped_final'
  | 'skipped_rollout_closed'
  | 'succeeded'
  | 'failed'
  | 'cancelled'
  | 'retry_scheduled'
  | 'duplicate';

/**
 * Runs one install job: wait for the account's rate and a global slot, claim an attempt in Postgres, call
 * NodeInstall, record the answer and move the instance, then let the rollout react (next wave, abort, complete).
 * Retries of transient failures are scheduled here (the job is delayed, freeing its concurrency slot) so the
 * retry count is the attempt count in Postgres, not BullMQ's, which stalls and restarts would skew.
 */
export function createInstallProcessor(deps: InstallProcessorDeps) {
  const now = deps.now ?? (() => new Date());
  const random = deps.random ?? Math.random;
  const lastAbortCheck = new Map<string, number>();

  // Postgres may be restarting while we hold an answer: keep trying to record it rather than lose a real call.
  const persist = <T>(what: string, fn: () => Promise<T>) =>
    pRetry(fn, {
      retries: 10,
      minTimeout: 200,
      maxTimeout: 5_000,
      randomize: true,
      shouldRetry: ({ error }) => isDatabaseUnavailableError(error),
      onFailedAttempt: ({ error, attemptNumber }) => {
        if (isDatabaseUnavailableError(error)) deps.logger.warn(`postgres unavailable while ${what}, retrying`, { attemptNumber, error: error.message });
      },
    });

  async function delay(job: Job<InstallJobData>, token: string | undefined, ms: number): Promise<never> {
    await job.moveToDelayed(Date.now() + Math.max(1, Math.round(ms)), token);
    throw new DelayedError();
  }

  /** After an instance reached a final state: abort check, next wave, completion. */
  async function afterFinal(rollout: RolloutSettings): Promise<void> {
    const last = lastAbortCheck.get(rollout.id) ?? 0;
    if (rollout.policy.abort && Date.now() - last >= ABORT_CHECK_INTERVAL_MS) {
      lastAbortCheck.set(rollout.id, Date.now());
      if (await persist('checking the abort threshold', () => abortIfThresholdCrossed(deps.control, { id: rollout.id, policy: rollout.policy }))) {
        deps.rollouts.invalidate(rollout.id);
        return;
      }
    }
    if (rollout.waveCount > 1) {
      await persist('advancing waves', () => advanceWaves(deps.control, { id: rollout.id, policy: rollout.policy, concurrency: rollout.concurrency }, { approved: false }));
    } else if (await persist('completing the rollout', () => completeRolloutIfDone(deps.db, rollout.id))) {
      deps.rollouts.invalidate(rollout.id);
      deps.logger.info('rollout completed');
    }
  }

  return async function processInstallJob(job: Job<InstallJobData>, token?: string): Promise<InstallJobOutcome> {
    const { rolloutId, instanceId } = job.data;
    const rolloutInstanceId = BigInt(job.data.rolloutInstanceId);
    return withLogContext({ rolloutId, instanceId, jobId: job.id ?? instanceId }, async () => {
      const rollout = await deps.rollouts.get(rolloutId);
      if (!rollout || rollout.status === 'completed' || rollout.status === 'cancelled') return 'skipped_rollout_closed';
      if (rollout.status === 'paused') return delay(job, token, 1000);

      // Limits come before the claim: a claim writes the attempt row, which must mean the call is really made.
      const wait = await deps.accountRate.take(rollout.userId);
      if (wait > 0) return delay(job, token, wait + random() * 20);
      const slot = await deps.globalConcurrency.tryAcquire(rolloutId);
      if (slot === null) return delay(job, token, 20 + random() * 80);

      let result: CallResult;
      let claim;
      try {
        claim = await persist('claiming an attempt', () =>
          claimAttempt(deps.db, {
            rolloutInstanceId,
            rolloutId,
            workerId: deps.workerId,
            staleAfterMs: deps.callTimeoutMs + STALE_GRACE_MS,
            instanceTimeoutMs: rollout.policy.instanceTimeoutMs,
            now: now(),
          }),
        );
        if (claim.kind !== 'claimed') {
          await deps.globalConcurrency.release(slot);
          switch (claim.kind) {
            case 'final':
            case 'missing':
              return 'skipped_final';
            case 'paused':
              deps.rollouts.invalidate(rolloutId);
              return delay(job, token, 1000);
            case 'busy':
              // Another delivery of this job may still be calling; look again once its call must have ended.
              return delay(job, token, claim.retryAt.getTime() - Date.now() + random() * 1000);
            case 'closed':
              deps.logger.info('instance closed without a call', { to: claim.to, reason: claim.reason });
              await afterFinal(rollout);
              return claim.to === 'cancelled' ? 'cancelled' : 'failed';
          }
        }
        if (claim.abandonedAttemptNo !== null) deps.logger.warn('previous attempt abandoned by a dead worker', { attemptNo: claim.abandonedAttemptNo });
        result = await deps.cms.nodeInstall({ userId: rollout.userId, instanceId, force: rollout.force });
      } finally {
        if (claim?.kind === 'claimed') await deps.globalConcurrency.release(slot);
      }

      const outcome = attemptOutcomeClass(result.outcome);
      const kind = result.outcome.kind;
      if (kind === 'throttled') await deps.accountRate.onThrottled(rollout.userId);
      else if (outcome === 'success') await deps.accountRate.onSuccess(rollout.userId);
      const fleetWide = kind === 'fleet_wide';
      const verdict: AttemptVerdict = fleetWide ? 'deferred' : outcome;
      const policy = rollout.retry;
      const nextAttemptAt =
        verdict === 'retryable' ? new Date(now().getTime() + retryDelayMs(policy, claim.attemptNo, kind === 'throttled' ? 'throttled' : 'transient', random)) : null;
      const retriesExhausted = outcome === 'retryable' && claim.attemptNo >= policy.maxAttempts;

      const finish: FinishResult = await persist('recording an attempt', () =>
        finishAttempt(deps.db, {
          rolloutInstanceId,
          attemptId: claim.attemptId,
          attemptNo: claim.attemptNo,
          maxAttempts: policy.maxAttempts,
          answer: toAnswer(result, fleetWide ? 'retryable' : outcome),
          verdict,
          instanceTimeoutMs: rollout.policy.instanceTimeoutMs,
          nextAttemptAt,
          manualInstallReason:
            outcome === 'success'
              ? null
              : manualInstallReasonFor({ outcomeKind: kind, errorCode: result.errorCode, errorMessage: result.errorMessage, httpStatus: result.httpStatus, retriesExhausted }),
        }),
      );
      deps.logger.log(outcome === 'success' ? 'debug' : 'info', 'NodeInstall attempt recorded', {
        attemptNo: claim.attemptNo,
        outcome: result.outcome,
        httpStatus: result.httpStatus,
        requestId: result.requestId,
        durationMs: result.durationMs,
        result: finish.kind === 'transitioned' ? finish.to : finish.kind,
      });

      if (fleetWide) {
        // Bad credentials, a signature mismatch or Forbidden fail every instance alike: stop the rollout at once
        // with the reason instead of burning through the fleet. The instance waits (pending) for the resume.
        await persist('pausing the rollout', () =>
          pauseRollout(deps.control, rolloutId, `fleet-wide error ${result.errorCode ?? ''}: ${result.errorMessage ?? ''}`.slice(0, 500)),
        );
        deps.rollouts.invalidate(rolloutId);
      }
      if (finish.kind === 'duplicate') return 'duplicate';
      if (finish.kind === 'recorded_only') return 'skipped_final';
      if (finish.to === 'pending') {
        deps.logger.debug('retry scheduled', { nextAttemptAt });
        return delay(job, token, nextAttemptAt ? nextAttemptAt.getTime() - Date.now() : 1000);
      }
      await afterFinal(rollout);
      return finish.to === 'succeeded' ? 'succeeded' : finish.to === 'cancelled' ? 'cancelled' : 'failed';
    });
  };
}

function toAnswer(result: CallResult, outcome: ReturnType<typeof attemptOutcomeClass>) {
  return {
    finishedAt: result.finishedAt,
    durationMs: Math.round(result.durationMs),
    httpStatus: result.httpStatus,
    success: result.success,
    errorCode: result.errorCode,
    errorMessage: result.errorMessage,
    requestId: result.requestId,
    outcome,
    outcomeKind: result.outcome.kind,
  };
}
