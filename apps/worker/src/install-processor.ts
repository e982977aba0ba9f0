import { randomUUID } from 'node:crypto';
import type { Job } from 'bullmq';
import { DelayedError } from 'bullmq';
import pRetry from 'p-retry';
import type { CallResult, CmsClient } from '@fleet/cms-client';
import { attemptOutcomeClass } from '@fleet/cms-client';
import type { AttemptWriter, ClaimResult, Database, FinishResult } from '@fleet/db';
import {
  completeRolloutIfDone,
  createAttemptWriter,
  isDatabaseUnavailableError,
  markAttemptAnswerLost,
} from '@fleet/db';
import type { AccountRateLimiter, CallAdmission, GlobalConcurrency } from '@fleet/limits';
import { createCallAdmission } from '@fleet/limits';
import type { Logger } from '@fleet/logger';
import type { InstallJobData } from '@fleet/queue';
import type { RolloutControlDeps } from '@fleet/rollout-control';
import { abortIfThresholdCrossed, advanceWaves, pauseRollout } from '@fleet/rollout-control';
import type { AttemptVerdict } from '@fleet/rollout-domain';
import { manualInstallReasonFor, retryDelayMs } from '@fleet/rollout-domain';
import type { RolloutCache, RolloutSettings } from './rollout-cache.ts';

export type InstallProcessorDeps = {
  db: Database;
  /**
   * Claims and answers; default a group-committing writer on `db` (createAttemptWriter), so that the writes of
   * concurrent jobs share commits. Pass one to share it between processors of one process.
   */
  attempts?: AttemptWriter;
  cms: CmsClient;
  rollouts: RolloutCache;
  /** Rollout-wide operations (waves, abort, fleet-wide pause); its Redis connection may be the worker's. */
  control: RolloutControlDeps;
  globalConcurrency: GlobalConcurrency;
  accountRate: AccountRateLimiter;
  /**
   * Takes the account's rate token and a global slot in one step, and gives slots back; default built from the two
   * limiters above. Pass one to flush its waiting releases on shutdown (CallAdmission.flush).
   */
  admission?: CallAdmission;
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
/** "Is the rollout done?" is asked at most this often per rollout per process, in ms (see completionChecks). */
const COMPLETION_CHECK_INTERVAL_MS = 50;

export type InstallJobOutcome =
  'skipped_final' | 'skipped_rollout_closed' | 'succeeded' | 'failed' | 'cancelled' | 'retry_scheduled' | 'duplicate';

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
  const attempts = deps.attempts ?? createAttemptWriter(deps.db);
  const admission = deps.admission ?? createCallAdmission({ rate: deps.accountRate, global: deps.globalConcurrency });

  // Postgres may be restarting while we hold an answer: keep trying to record it rather than lose a real call. The
  // first try is a plain call (p-retry's bookkeeping on every write of every job is measurable CPU at thousands a second).
  async function persist<T>(what: string, log: Logger, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (error) {
      if (!isDatabaseUnavailableError(error)) throw error;
      log.warn(`postgres unavailable while ${what}, retrying`, { attemptNumber: 1, error: (error as Error).message });
    }
    return pRetry(fn, {
      retries: 10,
      minTimeout: 200,
      maxTimeout: 5_000,
      randomize: true,
      shouldRetry: ({ error }) => isDatabaseUnavailableError(error),
      onFailedAttempt: ({ error, attemptNumber }) => {
        if (isDatabaseUnavailableError(error))
          log.warn(`postgres unavailable while ${what}, retrying`, {
            attemptNumber: attemptNumber + 1,
            error: error.message,
          });
      },
    });
  }

  async function delay(job: Job<InstallJobData>, token: string | undefined, ms: number): Promise<never> {
    await job.moveToDelayed(Date.now() + Math.max(1, Math.round(ms)), token);
    throw new DelayedError();
  }

  /**
   * "Is the rollout done?" after every final transition, without one query per instance. Every request is answered
   * by a check that starts after it was made (so after the transition that asked committed: of two workers recording
   * the last two instances at once, the later committer's check sees both), but per rollout at most one check runs
   * in this process at a time and checks start at most every COMPLETION_CHECK_INTERVAL_MS. The job does not wait
   * for it: completing the rollout is bookkeeping, not part of recording the attempt, and should this process die
   * first, the reconciler completes rollouts whose instances are all final.
   */
  const completionChecks = trailingChecks(
    async (rolloutId: string) => {
      if (
        await persist('completing the rollout', deps.logger.child({ rolloutId }), () =>
          completeRolloutIfDone(deps.db, rolloutId),
        )
      ) {
        deps.rollouts.invalidate(rolloutId);
        deps.logger.info('rollout completed', { rolloutId });
      }
    },
    COMPLETION_CHECK_INTERVAL_MS,
    (rolloutId, error) =>
      deps.logger.warn('checking whether the rollout is done failed; the reconciler will', { rolloutId, error }),
  );

  /** After an instance reached a final state: abort check, next wave, completion. */
  async function afterFinal(rollout: RolloutSettings, log: Logger): Promise<void> {
    const last = lastAbortCheck.get(rollout.id) ?? 0;
    if (rollout.policy.abort && Date.now() - last >= ABORT_CHECK_INTERVAL_MS) {
      lastAbortCheck.set(rollout.id, Date.now());
      if (
        await persist('checking the abort threshold', log, () =>
          abortIfThresholdCrossed(deps.control, { id: rollout.id, policy: rollout.policy }),
        )
      ) {
        deps.rollouts.invalidate(rollout.id);
        return;
      }
    }
    if (rollout.waveCount > 1) {
      await persist('advancing waves', log, () =>
        advanceWaves(
          deps.control,
          { id: rollout.id, policy: rollout.policy, concurrency: rollout.concurrency },
          { approved: false },
        ),
      );
    } else {
      completionChecks.request(rollout.id);
    }
  }

  /**
   * After a lost answer with Force=true: asks NodeStatus whether the agent is up (running, or installing after the
   * lost call). If so, a CallResult standing for the lost call's success, carrying the NodeStatus RequestId; null when
   * it is not, or NodeStatus gave no clear answer (a new attempt follows then).
   */
  async function agentAlreadyUp(instanceId: string, replay: CallResult): Promise<CallResult | null> {
    const status = await deps.cms.nodeStatus({ instanceId });
    if (status.status !== 'running' && status.status !== 'installing') return null;
    return {
      ...status,
      action: 'NodeInstall',
      outcome: { kind: 'success' },
      success: true,
      errorCode: null,
      errorMessage:
        `answer lost with its worker (replay refused with SignatureNonceUsed, RequestId ${replay.requestId ?? 'none'}); ` +
        `NodeStatus showed the agent ${status.status}`,
      startedAt: replay.startedAt,
      durationMs: replay.durationMs + status.durationMs,
    };
  }

  return async function processInstallJob(job: Job<InstallJobData>, token?: string): Promise<InstallJobOutcome> {
    const { rolloutId, instanceId } = job.data;
    const rolloutInstanceId = BigInt(job.data.rolloutInstanceId);
    // A child logger rather than an AsyncLocalStorage context: the latter makes every promise of the process pay for
    // async hooks, and a job makes dozens.
    const log = deps.logger.child({ rolloutId, instanceId, jobId: job.id ?? instanceId });
    const rollout = await deps.rollouts.get(rolloutId);
    if (!rollout || rollout.status === 'completed' || rollout.status === 'cancelled') return 'skipped_rollout_closed';
    if (rollout.status === 'paused') return delay(job, token, 1000);

    // Limits come before the claim: a claim writes the attempt row, which must mean the call is really made.
    const admitted = await admission.admit(rollout.userId, rolloutId);
    if (admitted.kind === 'rate') return delay(job, token, admitted.waitMs + random() * 20);
    if (admitted.kind === 'slot') return delay(job, token, 20 + random() * 80);
    const { slot } = admitted;

    let claim: Extract<ClaimResult, { kind: 'claimed' | 'replay' }>;
    let result: CallResult;
    try {
      const claimed = await persist('claiming an attempt', log, () =>
        attempts.claim({
          rolloutInstanceId,
          rolloutId,
          workerId: deps.workerId,
          // Every request is signed with a nonce and timestamp stored on its attempt row first, so that whoever
          // takes over after this worker dies can send exactly this request again (see ClaimResult 'replay').
          signatureNonce: randomUUID(),
          staleAfterMs: deps.callTimeoutMs + STALE_GRACE_MS,
          instanceTimeoutMs: rollout.policy.instanceTimeoutMs,
          now: now(),
        }),
      );
      if (claimed.kind !== 'claimed' && claimed.kind !== 'replay') {
        admission.release(slot);
        switch (claimed.kind) {
          case 'final':
          case 'missing':
            return 'skipped_final';
          case 'paused':
            deps.rollouts.invalidate(rolloutId);
            return delay(job, token, 1000);
          case 'busy':
            // Another delivery of this job may still be calling; look again once its call must have ended.
            return delay(job, token, claimed.retryAt.getTime() - Date.now() + random() * 1000);
          case 'closed':
            log.info('instance closed without a call', { to: claimed.to, reason: claimed.reason });
            await afterFinal(rollout, log);
            return claimed.to === 'cancelled' ? 'cancelled' : 'failed';
        }
      }
      claim = claimed;
      if (claim.kind === 'replay') {
        log.warn('replaying the request of an attempt whose worker died, to learn whether its call arrived', {
          attemptNo: claim.attemptNo,
        });
      } else if (claim.abandonedAttemptNo !== null) {
        log.warn('previous attempt abandoned by a dead worker', { attemptNo: claim.abandonedAttemptNo });
      }
      result = await deps.cms.nodeInstall({
        userId: rollout.userId,
        instanceId,
        force: rollout.force,
        ...(claim.signing ? { exactSigning: claim.signing } : {}),
      });
    } catch (error) {
      // The claim or the call threw (Postgres gone for good, a programmer error): free the slot before failing.
      admission.release(slot);
      throw error;
    }

    let inferred = false;
    if (claim.kind === 'replay' && result.errorCode === 'SignatureNonceUsed') {
      // The first copy of this request reached CloudMonitor; its answer died with its worker.
      const fromStatus = rollout.force ? await agentAlreadyUp(instanceId, result) : null;
      if (fromStatus) {
        // With Force=true a new attempt would reinstall an agent that the lost call installed: the agent is up, so
        // the lost call is recorded as the success it evidently was (the reconciler still verifies it).
        result = fromStatus;
        inferred = true;
      } else {
        // Close the attempt as such and come back at once for attempt N+1 (a new claim, under the limits again).
        admission.release(slot);
        const attemptId = claim.attemptId;
        const replayRequestId = result.requestId;
        const at = result.finishedAt;
        await persist('closing an attempt whose answer was lost', log, () =>
          markAttemptAnswerLost(deps.db, { attemptId, at, replayRequestId }),
        );
        log.warn("the dead worker's call had reached CloudMonitor; its answer is lost, a new attempt follows", {
          attemptNo: claim.attemptNo,
          replayRequestId,
        });
        return delay(job, token, 1 + random() * 20);
      }
    }

    const outcome = attemptOutcomeClass(result.outcome);
    const kind = result.outcome.kind;
    // The slot and the account's rate only concern the call, which is over: the slot goes back with this process's
    // next admit (CallAdmission.release), the rate learns of the answer while the answer is recorded.
    admission.release(slot);
    const adapted =
      kind === 'throttled'
        ? deps.accountRate.onThrottled(rollout.userId)
        : outcome === 'success'
          ? deps.accountRate.onSuccess(rollout.userId)
          : null;
    const fleetWide = kind === 'fleet_wide';
    const verdict: AttemptVerdict = fleetWide ? 'deferred' : outcome;
    const policy = rollout.retry;
    const nextAttemptAt =
      verdict === 'retryable'
        ? new Date(
            now().getTime() +
              retryDelayMs(policy, claim.attemptNo, kind === 'throttled' ? 'throttled' : 'transient', random),
          )
        : null;
    const retriesExhausted = outcome === 'retryable' && claim.attemptNo >= policy.maxAttempts;

    const recorded = persist('recording an attempt', log, () =>
      attempts.finish({
        rolloutInstanceId,
        attemptId: claim.attemptId,
        attemptNo: claim.attemptNo,
        maxAttempts: policy.maxAttempts,
        answer: inferred
          ? { ...toAnswer(result, outcome), outcomeKind: 'success_inferred' }
          : toAnswer(result, fleetWide ? 'retryable' : outcome),
        verdict,
        instanceTimeoutMs: rollout.policy.instanceTimeoutMs,
        nextAttemptAt,
        manualInstallReason:
          outcome === 'success'
            ? null
            : manualInstallReasonFor({
                outcomeKind: kind,
                errorCode: result.errorCode,
                errorMessage: result.errorMessage,
                httpStatus: result.httpStatus,
                retriesExhausted,
              }),
      }),
    );
    const [finish]: [FinishResult, ...unknown[]] = await Promise.all([recorded, adapted]);
    const level = outcome === 'success' ? 'debug' : 'info';
    // winston formats (context, redaction, JSON) every line before its transports drop those below the level, so a
    // per-job debug line is only written when it will be kept.
    if (log.isLevelEnabled(level)) {
      log.log(level, 'NodeInstall attempt recorded', {
        attemptNo: claim.attemptNo,
        outcome: result.outcome,
        httpStatus: result.httpStatus,
        requestId: result.requestId,
        durationMs: result.durationMs,
        result: finish.kind === 'transitioned' ? finish.to : finish.kind,
      });
    }

    if (fleetWide) {
      // Bad credentials, a signature mismatch or Forbidden fail every instance alike: stop the rollout at once
      // with the reason instead of burning through the fleet. The instance waits (pending) for the resume.
      await persist('pausing the rollout', log, () =>
        pauseRollout(
          deps.control,
          rolloutId,
          `fleet-wide error ${result.errorCode ?? ''}: ${result.errorMessage ?? ''}`.slice(0, 500),
        ),
      );
      deps.rollouts.invalidate(rolloutId);
    }
    if (finish.kind === 'duplicate') return 'duplicate';
    if (finish.kind === 'recorded_only') return 'skipped_final';
    if (finish.to === 'pending') {
      log.debug('retry scheduled', { nextAttemptAt });
      return delay(job, token, nextAttemptAt ? nextAttemptAt.getTime() - Date.now() : 1000);
    }
    await afterFinal(rollout, log);
    return finish.to === 'succeeded' ? 'succeeded' : finish.to === 'cancelled' ? 'cancelled' : 'failed';
  };
}

/**
 * Runs `check(key)` after every request, sparingly: per key at most one check at a time and at most one start per
 * `intervalMs`; a request made while a check runs or waits is answered by the next check, which starts after it.
 */
function trailingChecks(
  check: (key: string) => Promise<void>,
  intervalMs: number,
  onError: (key: string, error: unknown) => void,
): { request(key: string): void } {
  const states = new Map<
    string,
    { requested: boolean; running: boolean; timer: NodeJS.Timeout | null; lastStart: number }
  >();
  function pump(key: string): void {
    const state = states.get(key);
    if (!state || state.running || state.timer) return;
    if (!state.requested) {
      states.delete(key);
      return;
    }
    const wait = state.lastStart + intervalMs - Date.now();
    if (wait > 0) {
      state.timer = setTimeout(() => {
        state.timer = null;
        pump(key);
      }, wait);
      state.timer.unref();
      return;
    }
    state.requested = false;
    state.running = true;
    state.lastStart = Date.now();
    check(key)
      .catch((error: unknown) => onError(key, error))
      .finally(() => {
        state.running = false;
        pump(key);
      });
  }
  return {
    request(key) {
      const state = states.get(key) ?? { requested: false, running: false, timer: null, lastStart: 0 };
      states.set(key, state);
      state.requested = true;
      pump(key);
    },
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
