import type { CallResult } from '@fleet/cms-client';
import type { AttemptAnswer, FinishResult } from '@fleet/db';
import { markAttemptAnswerLost } from '@fleet/db';
import { assertNever } from '@fleet/errors';
import type { AccountRateLimiter } from '@fleet/limits';
import { pauseRollout } from '@fleet/rollout-control';
import type { AccountRateSignal, RecordAnswer } from '@fleet/rollout-domain';
import { decideAfterRecord } from '@fleet/rollout-domain';
import { afterFinal } from './after-final.ts';
import type { Answered, CallingClaim } from './install-call.ts';
import type { InstallJobOutcome, JobRun, Processor } from './install-job-run.ts';
import { delayJob } from './install-job-run.ts';
import { persistThroughOutage } from './persist-through-outage.ts';

/** Records what the call came to, and lets the instance and the rollout move on. */
export async function settleAnswer(p: Processor, run: JobRun, answered: Answered): Promise<InstallJobOutcome> {
  const { claim, result, decision, reservedAtMs } = answered;
  switch (decision.kind) {
    case 'answer_lost': {
      // Close the attempt as such and come back soon for attempt N+1 (a new claim, under the limits again).
      const replayRequestId = result.requestId;
      await persistThroughOutage('closing an attempt whose answer was lost', run.log, () =>
        markAttemptAnswerLost(p.deps.db, { attemptId: claim.attemptId, at: result.finishedAt, replayRequestId }),
      );
      run.log.warn("the dead worker's call had reached CloudMonitor; its answer is lost, a new attempt follows", {
        attemptNo: claim.attemptNo,
        replayRequestId,
      });
      return delayJob(run.job, run.token, { kind: 'delay', ms: decision.ms, why: 'answer_lost' });
    }
    case 'record':
      return recordAnswer(p, run, { claim, result, decision, reservedAtMs });
    default:
      return assertNever(decision, 'answer');
  }
}

async function recordAnswer(
  p: Processor,
  run: JobRun,
  answered: { claim: CallingClaim; result: CallResult; decision: RecordAnswer; reservedAtMs: number },
): Promise<InstallJobOutcome> {
  const { claim, result, decision, reservedAtMs } = answered;
  const { rollout, log } = run;
  const recorded = persistThroughOutage('recording an attempt', log, () =>
    p.attempts.finish({
      rolloutInstanceId: run.rolloutInstanceId,
      attemptId: claim.attemptId,
      attemptNo: claim.attemptNo,
      maxAttempts: rollout.retry.maxAttempts,
      answer: toAnswer(result, decision.recorded, claim.kind === 'replay'),
      verdict: decision.verdict,
      instanceTimeoutMs: rollout.policy.instanceTimeoutMs,
      nextAttemptAt: decision.nextAttemptAt,
      manualInstallReason: decision.manualInstallReason,
    }),
  );
  const [finish]: [FinishResult, ...unknown[]] = await Promise.all([
    recorded,
    signalAccountRate(p.deps.accountRate, rollout.userId, decision.accountRate, reservedAtMs),
  ]);
  // Counted once its answer is on its attempt row, so that the count is the rows' (a duplicate delivery wrote none).
  if (finish.kind !== 'duplicate') {
    p.deps.metrics?.callRecorded({
      userId: rollout.userId,
      outcome: decision.recorded.outcome,
      throttled: result.outcome.kind === 'throttled',
      durationMs: result.durationMs,
    });
  }
  const level = decision.verdict === 'success' ? 'debug' : 'info';
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

  const pauseReason = decision.pauseRollout;
  if (pauseReason !== null) {
    // The instance waits (pending) for the resume; every other job of the rollout stops with the pause.
    await persistThroughOutage('pausing the rollout', log, () =>
      pauseRollout(p.deps.control, rollout.id, pauseReason, {
        kind: 'fleet_wide_error',
        code: result.errorCode ?? null,
      }),
    );
    p.deps.rollouts.invalidate(rollout.id);
  }
  const after = decideAfterRecord(finish, { nextAttemptAt: decision.nextAttemptAt, now: p.now() });
  switch (after.kind) {
    case 'duplicate':
      return 'duplicate';
    case 'moved_on':
      return 'skipped_final';
    case 'delay':
      log.debug('retry scheduled', { nextAttemptAt: decision.nextAttemptAt });
      return delayJob(run.job, run.token, after);
    case 'finished':
      p.deps.metrics?.instanceFinished(after.to);
      await afterFinal(p, run);
      return after.to;
    default:
      return assertNever(after, 'recorded answer');
  }
}

/**
 * Tells the account's adapted rate what the answer says of it (nothing to wait for when it says nothing).
 * `reservedAtMs`: when the call's start was reserved (see AccountRateLimiter.onThrottled).
 */
export function signalAccountRate(
  accountRate: AccountRateLimiter,
  userId: string,
  signal: AccountRateSignal,
  reservedAtMs: number,
): Promise<number> | null {
  switch (signal) {
    case 'throttled':
      return accountRate.onThrottled(userId, reservedAtMs);
    case 'success':
      return accountRate.onSuccess(userId);
    case 'none':
      return null;
    default:
      return assertNever(signal, 'account rate signal');
  }
}

/** `replay`: the call was a replay of an earlier request, whose start its row keeps (AttemptAnswer.sentAt). */
export function toAnswer(result: CallResult, recorded: RecordAnswer['recorded'], replay: boolean): AttemptAnswer {
  return {
    sentAt: replay ? null : result.startedAt,
    finishedAt: result.finishedAt,
    durationMs: Math.round(result.durationMs),
    httpStatus: result.httpStatus,
    success: result.success,
    errorCode: result.errorCode,
    errorMessage: result.errorMessage,
    requestId: result.requestId,
    outcome: recorded.outcome,
    outcomeKind: recorded.outcomeKind,
  };
}
