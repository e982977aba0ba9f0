import type { Job } from 'bullmq';
import { DelayedError } from 'bullmq';
import pRetry from 'p-retry';
import type { CallResult, CmsClient } from '@fleet/cms-client';
import { attemptOutcomeClass } from '@fleet/cms-client';
import type { Database, FinishResult } from '@fleet/db';
import { claimAttempt, completeRolloutIfDone, finishAttempt, isDatabaseUnavailableError } from '@fleet/db';
import type { Logger } from '@fleet/logger';
import { withLogContext } from '@fleet/logger';
import type { InstallJobData } from '@fleet/queue';
import type { RetryPolicy } from '@fleet/rollout-domain';
import { manualInstallReasonFor, retryDelayMs } from '@fleet/rollout-domain';
import type { RolloutCache } from './rollout-cache.ts';

export type InstallProcessorDeps = {
  db: Database;
  cms: CmsClient;
  rollouts: RolloutCache;
  logger: Logger;
  workerId: string;
  /** Deadline of one NodeInstall call, in ms; an unfinished attempt older than this plus a grace is abandoned. */
  callTimeoutMs: number;
  random?: () => number;
  now?: () => Date;
};

/** Grace beyond the call timeout before another worker presumes a call's worker dead. */
const STALE_GRACE_MS = 5_000;

export type InstallJobOutcome = 'skipped_final' | 'skipped_rollout_closed' | 'succeeded' | 'failed' | 'retry_scheduled' | 'busy' | 'duplicate';

/**
 * Runs one install job: claim an attempt in Postgres, call NodeInstall, record the answer and move the instance.
 * Retries of transient failures are scheduled here (the job is delayed, freeing its concurrency slot) so the
 * retry count is the attempt count in Postgres, not BullMQ's, which stalls and restarts would skew.
 */
export function createInstallProcessor(deps: InstallProcessorDeps) {
  const now = deps.now ?? (() => new Date());
  const random = deps.random ?? Math.random;

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

  return async function processInstallJob(job: Job<InstallJobData>, token?: string): Promise<InstallJobOutcome> {
    const { rolloutId, instanceId } = job.data;
    const rolloutInstanceId = BigInt(job.data.rolloutInstanceId);
    return withLogContext({ rolloutId, instanceId, jobId: job.id ?? instanceId }, async () => {
      const rollout = await deps.rollouts.get(rolloutId);
      if (!rollout || rollout.status === 'completed' || rollout.status === 'cancelled') return 'skipped_rollout_closed';
      if (rollout.status === 'paused') {
        await job.moveToDelayed(Date.now() + 1000, token);
        throw new DelayedError();
      }

      const claim = await persist('claiming an attempt', () =>
        claimAttempt(deps.db, { rolloutInstanceId, rolloutId, workerId: deps.workerId, staleAfterMs: deps.callTimeoutMs + STALE_GRACE_MS, now: now() }),
      );
      if (claim.kind === 'final' || claim.kind === 'missing') return 'skipped_final';
      if (claim.kind === 'busy') {
        // Another delivery of this job may still be calling; look again once its call must have ended.
        await job.moveToDelayed(claim.retryAt.getTime() + Math.round(random() * 1000), token);
        throw new DelayedError();
      }
      if (claim.abandonedAttemptNo !== null) deps.logger.warn('previous attempt abandoned by a dead worker', { attemptNo: claim.abandonedAttemptNo });

      const result = await deps.cms.nodeInstall({ userId: rollout.userId, instanceId, force: rollout.force });
      const outcome = attemptOutcomeClass(result.outcome);
      const retryReason = result.outcome.kind === 'throttled' ? 'throttled' : 'transient';
      const policy: RetryPolicy = rollout.retry;
      const nextAttemptAt = outcome === 'retryable' ? new Date(now().getTime() + retryDelayMs(policy, claim.attemptNo, retryReason, random)) : null;
      const retriesExhausted = outcome === 'retryable' && claim.attemptNo >= policy.maxAttempts;

      const finish: FinishResult = await persist('recording an attempt', () =>
        finishAttempt(deps.db, {
          rolloutInstanceId,
          attemptId: claim.attemptId,
          attemptNo: claim.attemptNo,
          maxAttempts: policy.maxAttempts,
          answer: toAnswer(result, outcome),
          nextAttemptAt,
          manualInstallReason:
            outcome === 'success'
              ? null
              : manualInstallReasonFor({
                  outcomeKind: result.outcome.kind,
                  errorCode: result.errorCode,
                  errorMessage: result.errorMessage,
                  httpStatus: result.httpStatus,
                  retriesExhausted,
                }),
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

      if (finish.kind === 'duplicate') return 'duplicate';
      if (finish.kind === 'recorded_only') return 'skipped_final';
      if (finish.to === 'pending' && nextAttemptAt) {
        await job.moveToDelayed(nextAttemptAt.getTime(), token);
        throw new DelayedError();
      }
      if (await persist('completing the rollout', () => completeRolloutIfDone(deps.db, rolloutId))) {
        deps.rollouts.invalidate(rolloutId);
        deps.logger.info('rollout completed');
      }
      return finish.to === 'succeeded' ? 'succeeded' : 'failed';
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
