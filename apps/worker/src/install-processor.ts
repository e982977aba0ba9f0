import { randomUUID } from 'node:crypto';
import type { CallResult, CmsClient, NodeStatusResult } from '@fleet/cms-client';
import { attemptOutcomeClass } from '@fleet/cms-client';
import type { AttemptAnswer, AttemptWriter, ClaimResult, Database, FinishResult } from '@fleet/db';
import { completeRolloutIfDone, createAttemptWriter, markAttemptAnswerLost } from '@fleet/db';
import { assertNever } from '@fleet/errors';
import type { AccountRateLimiter, CallAdmission, GlobalConcurrency } from '@fleet/limits';
import { createCallAdmission } from '@fleet/limits';
import type { Logger } from '@fleet/logger';
import type { WorkerMetrics } from '@fleet/metrics';
import type { InstallJob } from '@fleet/queue';
import { delayInstallJob } from '@fleet/queue';
import type { RolloutControlDeps } from '@fleet/rollout-control';
import { abortIfThresholdCrossed, advanceWaves, pauseRollout } from '@fleet/rollout-control';
import type { AccountRateSignal, AnswerLost, ClaimDecision, JobDelay, RecordAnswer } from '@fleet/rollout-domain';
import {
  decideAdmission,
  decideAfterAgentCheck,
  decideAfterRecord,
  decideAnswer,
  decideClaim,
  decideJobStart,
} from '@fleet/rollout-domain';
import { persistThroughOutage } from './persist-through-outage.ts';
import type { RolloutCache, RolloutSettings } from './rollout-cache.ts';
import { createTrailingChecks } from './trailing-checks.ts';
import type { TrailingChecks } from './trailing-checks.ts';

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
   * Reserves the call's start on the account's schedule and takes a global slot in one step, and gives slots back;
   * default built from the two limiters above (wait bound 1000 ms). Pass one to choose the wait bound
   * (ACCOUNT_RATE_MAX_WAIT_MS) and to flush its waiting releases on shutdown (CallAdmission.flush).
   */
  admission?: CallAdmission;
  logger: Logger;
  /** Counts recorded calls and finished instances (fleet_install_calls_total, ...). Default: nothing is counted. */
  metrics?: WorkerMetrics;
  workerId: string;
  /** Deadline of one NodeInstall call, in ms; an unfinished attempt older than this plus a grace is abandoned. */
  callTimeoutMs: number;
  /** Jitter and retry backoff draw from it, one value per decision; returns [0, 1). Default Math.random. */
  random?: () => number;
  /**
   * The clock every time of the install path is read from: claims, retry due times, waits for a call in flight, the
   * abort-check spacing. Default the system clock.
   */
  now?: () => Date;
  /** Waits out an admitted call's time until its reserved start (at most the admission's bound), ms. Default setTimeout. */
  sleep?: (ms: number) => Promise<void>;
};

/** A call this late (ms) for its reserved start takes a new one (see callStart). */
const LATE_START_TOLERANCE_MS = 25;
/** Grace beyond the call timeout before another worker presumes a call's worker dead. */
const STALE_GRACE_MS = 5_000;
/** A rollout's abort threshold is evaluated at most this often per process, in ms. */
const ABORT_CHECK_INTERVAL_MS = 250;
/** "Is the rollout done?" is asked at most this often per rollout per process, in ms (see completionChecks). */
const COMPLETION_CHECK_INTERVAL_MS = 50;

export type InstallJobOutcome =
  'skipped_final' | 'skipped_rollout_closed' | 'succeeded' | 'failed' | 'cancelled' | 'retry_scheduled' | 'duplicate';

/** What every job of one processor shares: the deps with their defaults, and the per-process throttles. */
type Processor = {
  deps: InstallProcessorDeps;
  now: () => Date;
  random: () => number;
  sleep: (ms: number) => Promise<void>;
  attempts: AttemptWriter;
  admission: CallAdmission;
  /** Per rollout: when this process last evaluated the abort threshold, in ms by `now`. */
  lastAbortCheck: Map<string, number>;
  completionChecks: TrailingChecks;
};

/** One job's own: the job and its lock token, its instance, its rollout as read, and its logger. */
type JobRun = {
  job: InstallJob;
  token: string | undefined;
  rolloutInstanceId: bigint;
  instanceId: string;
  rollout: RolloutSettings;
  log: Logger;
};

/** A claim that made the call: a new attempt, or the replay of a dead worker's attempt. */
type CallingClaim = Extract<ClaimResult, { kind: 'claimed' | 'replay' }>;

/** The call is over: its answer (or the success NodeStatus showed a lost call to have been), and what it means. */
type Answered = { kind: 'answered'; claim: CallingClaim; result: CallResult; decision: RecordAnswer | AnswerLost };

/** A claim that made no call: the job ends or waits without one. */
type ClaimWithoutCall = Exclude<ClaimDecision<ClaimResult>, { kind: 'call' }>;

/**
 * Runs one install job: wait for the account's rate and a global slot, claim an attempt in Postgres, call
 * NodeInstall, record the answer and move the instance, then let the rollout react (next wave, abort, complete).
 * Retries of transient failures are scheduled here (the job is delayed, freeing its concurrency slot) so the
 * retry count is the attempt count in Postgres, not BullMQ's, which stalls and restarts would skew. What to do at
 * each step is decided by the pure functions of @fleet/rollout-domain (attempt-decision.ts); this module does it.
 */
export function createInstallProcessor(
  deps: InstallProcessorDeps,
): (job: InstallJob, token?: string) => Promise<InstallJobOutcome> {
  const processor: Processor = {
    deps,
    now: deps.now ?? (() => new Date()),
    random: deps.random ?? Math.random,
    sleep: deps.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms))),
    attempts: deps.attempts ?? createAttemptWriter(deps.db),
    admission: deps.admission ?? createCallAdmission({ rate: deps.accountRate, global: deps.globalConcurrency }),
    lastAbortCheck: new Map(),
    completionChecks: createTrailingChecks(
      (rolloutId) => completeIfDone(deps, rolloutId),
      COMPLETION_CHECK_INTERVAL_MS,
      (rolloutId, error) =>
        deps.logger.warn('checking whether the rollout is done failed; the reconciler will', { rolloutId, error }),
    ),
  };
  return (job, token) => processInstallJob(processor, job, token);
}

async function processInstallJob(p: Processor, job: InstallJob, token?: string): Promise<InstallJobOutcome> {
  const { rolloutId, instanceId } = job.data;
  // A child logger rather than an AsyncLocalStorage context: the latter makes every promise of the process pay for
  // async hooks, and a job makes dozens.
  const log = p.deps.logger.child({ rolloutId, instanceId, jobId: job.id ?? instanceId });
  const start = decideJobStart(await p.deps.rollouts.get(rolloutId));
  switch (start.kind) {
    case 'skip':
      return 'skipped_rollout_closed';
    case 'delay':
      return delayJob(job, token, start);
    case 'admit':
      return admitAndRun(p, {
        job,
        token,
        rolloutInstanceId: BigInt(job.data.rolloutInstanceId),
        instanceId,
        rollout: start.rollout,
        log,
      });
    default:
      return assertNever(start, 'job start');
  }
}

/**
 * Limits come before the claim: a claim writes the attempt row, which must mean the call is really made. An admitted
 * call's start is reserved at most the admission's bound away (a longer wait was a delay in the queue); the claim is
 * made meanwhile and the call sent at the start, so Postgres's latency neither delays the call nor bunches calls
 * together (the account sees them spaced as scheduled). A claim that makes no call leaves its start unused: one
 * interval of the account's quota, and no more than the bound's worth in all (see CallAdmission).
 */
async function admitAndRun(p: Processor, run: JobRun): Promise<InstallJobOutcome> {
  const admitted = await p.admission.admit(run.rollout.userId, run.rollout.id);
  const admission = decideAdmission(admitted, { random: p.random() });
  switch (admission.kind) {
    case 'delay':
      return delayJob(run.job, run.token, admission);
    case 'claim':
      break;
    default:
      return assertNever(admission, 'admission');
  }
  let next: ClaimWithoutCall | Answered;
  try {
    next = await claimAndCall(p, run, {
      at: new Date(p.now().getTime() + admission.waitMs),
      reached: admission.waitMs > 0 ? p.sleep(admission.waitMs) : null,
    });
  } catch (error) {
    // The claim or a call threw (Postgres gone for good, a programmer error): free the slot before failing.
    p.admission.release(admission.slot);
    throw error;
  }
  // The slot and the account's rate only concern the call, which is over (or never made): the slot goes back with
  // this process's next admit (CallAdmission.release), the rate learns of the answer while the answer is recorded.
  p.admission.release(admission.slot);
  switch (next.kind) {
    case 'skip':
      return 'skipped_final';
    case 'delay':
      if (next.refreshRollout) p.deps.rollouts.invalidate(run.rollout.id);
      return delayJob(run.job, run.token, next);
    case 'closed':
      run.log.info('instance closed without a call', { to: next.claim.to, reason: next.claim.reason });
      p.deps.metrics?.instanceFinished(next.to);
      await afterFinal(p, run);
      return next.to;
    case 'answered':
      return settleAnswer(p, run, next);
    default:
      return assertNever(next, 'claim');
  }
}

/**
 * The call's reserved start: when it is (the attempt is claimed as of then, so its started_at and its signature's
 * timestamp are the call's), and the wait for it, null when it is now.
 */
type CallStart = { at: Date; reached: Promise<void> | null };

/**
 * Waits for the call's start. A call that had to wait (the account's schedule was full) and is later than
 * LATE_START_TOLERANCE_MS for its start (the claim outlasted the wait: Postgres slow, the process busy) takes a new
 * start instead: sent now, it would bunch with the calls scheduled after it, and the account would see more than its
 * rate. Its old start goes unused, so a stall costs the quota of its length. A call admitted to start at once found
 * the schedule with room to spare (the usual case below the rate): it is sent without another round trip, and late
 * it can bunch only with the few calls admitted just after it.
 */
async function callStart(p: Processor, run: JobRun, start: CallStart): Promise<void> {
  if (!start.reached) return;
  await start.reached;
  const lateMs = p.now().getTime() - start.at.getTime();
  if (lateMs <= LATE_START_TOLERANCE_MS) return;
  // The attempt is claimed, so the call goes whatever happens: with Redis away, late rather than not at all.
  const waitMs = await p.deps.accountRate.reserve(run.rollout.userId).catch((error: unknown) => {
    run.log.warn('could not take a new start for a late call; calling now', { lateMs, error });
    return 0;
  });
  if (waitMs > 0) await p.sleep(waitMs);
}

/**
 * Claims an attempt and, when the claim says so, makes the call at `start`: everything done while holding a global
 * slot.
 */
async function claimAndCall(p: Processor, run: JobRun, start: CallStart): Promise<ClaimWithoutCall | Answered> {
  const claimed = await persistThroughOutage('claiming an attempt', run.log, () =>
    p.attempts.claim({
      rolloutInstanceId: run.rolloutInstanceId,
      rolloutId: run.rollout.id,
      workerId: p.deps.workerId,
      // Every request is signed with a nonce and timestamp stored on its attempt row first, so that whoever
      // takes over after this worker dies can send exactly this request again (see ClaimResult 'replay').
      signatureNonce: randomUUID(),
      staleAfterMs: p.deps.callTimeoutMs + STALE_GRACE_MS,
      instanceTimeoutMs: run.rollout.policy.instanceTimeoutMs,
      now: start.at,
    }),
  );
  const decision = decideClaim(claimed, { now: p.now(), random: p.random() });
  if (decision.kind !== 'call') return decision;
  const { claim } = decision;
  if (claim.kind === 'replay') {
    run.log.warn('replaying the request of an attempt whose worker died, to learn whether its call arrived', {
      attemptNo: claim.attemptNo,
    });
  } else if (claim.abandonedAttemptNo !== null) {
    run.log.warn('previous attempt abandoned by a dead worker', { attemptNo: claim.abandonedAttemptNo });
  }
  await callStart(p, run, start);
  const result = await p.deps.cms.nodeInstall({
    userId: run.rollout.userId,
    instanceId: run.instanceId,
    force: run.rollout.force,
    ...(claim.signing ? { exactSigning: claim.signing } : {}),
  });
  const answer = decideAnswer(
    {
      kind: result.outcome.kind,
      outcome: attemptOutcomeClass(result.outcome),
      errorCode: result.errorCode,
      errorMessage: result.errorMessage,
      httpStatus: result.httpStatus,
      attemptNo: claim.attemptNo,
      replay: claim.kind === 'replay',
      force: run.rollout.force,
    },
    { retry: run.rollout.retry, now: p.now(), random: p.random() },
  );
  switch (answer.kind) {
    case 'record':
    case 'answer_lost':
      return { kind: 'answered', claim, result, decision: answer };
    case 'answer_check': {
      // Did the lost call install the agent? NodeStatus says whether it is up (running, or installing after it).
      const status = await p.deps.cms.nodeStatus({ instanceId: run.instanceId });
      const afterCheck = decideAfterAgentCheck(status.status, { random: p.random() });
      return {
        kind: 'answered',
        claim,
        result: afterCheck.kind === 'record' ? inferredSuccess(status, result) : result,
        decision: afterCheck,
      };
    }
    default:
      return assertNever(answer, 'answer');
  }
}

/** Records what the call came to, and lets the instance and the rollout move on. */
async function settleAnswer(p: Processor, run: JobRun, answered: Answered): Promise<InstallJobOutcome> {
  const { claim, result, decision } = answered;
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
      return recordAnswer(p, run, claim, result, decision);
    default:
      return assertNever(decision, 'answer');
  }
}

async function recordAnswer(
  p: Processor,
  run: JobRun,
  claim: CallingClaim,
  result: CallResult,
  decision: RecordAnswer,
): Promise<InstallJobOutcome> {
  const { rollout, log } = run;
  const recorded = persistThroughOutage('recording an attempt', log, () =>
    p.attempts.finish({
      rolloutInstanceId: run.rolloutInstanceId,
      attemptId: claim.attemptId,
      attemptNo: claim.attemptNo,
      maxAttempts: rollout.retry.maxAttempts,
      answer: toAnswer(result, decision.recorded),
      verdict: decision.verdict,
      instanceTimeoutMs: rollout.policy.instanceTimeoutMs,
      nextAttemptAt: decision.nextAttemptAt,
      manualInstallReason: decision.manualInstallReason,
    }),
  );
  const [finish]: [FinishResult, ...unknown[]] = await Promise.all([
    recorded,
    signalAccountRate(p.deps.accountRate, rollout.userId, decision.accountRate),
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

/** Tells the account's adapted rate what the answer says of it (nothing to wait for when it says nothing). */
function signalAccountRate(
  accountRate: AccountRateLimiter,
  userId: string,
  signal: AccountRateSignal,
): Promise<number> | null {
  switch (signal) {
    case 'throttled':
      return accountRate.onThrottled(userId);
    case 'success':
      return accountRate.onSuccess(userId);
    case 'none':
      return null;
    default:
      return assertNever(signal, 'account rate signal');
  }
}

/** After an instance reached a final state: abort check, next wave, completion. */
async function afterFinal(p: Processor, run: JobRun): Promise<void> {
  const { rollout, log } = run;
  const at = p.now().getTime();
  const last = p.lastAbortCheck.get(rollout.id) ?? 0;
  if (rollout.policy.abort && at - last >= ABORT_CHECK_INTERVAL_MS) {
    p.lastAbortCheck.set(rollout.id, at);
    if (
      await persistThroughOutage('checking the abort threshold', log, () =>
        abortIfThresholdCrossed(p.deps.control, { id: rollout.id, policy: rollout.policy }),
      )
    ) {
      p.deps.rollouts.invalidate(rollout.id);
      return;
    }
  }
  if (rollout.waveCount > 1) {
    await persistThroughOutage('advancing waves', log, () =>
      advanceWaves(
        p.deps.control,
        { id: rollout.id, policy: rollout.policy, concurrency: rollout.concurrency },
        { approved: false },
      ),
    );
  } else {
    p.completionChecks.request(rollout.id);
  }
}

/**
 * "Is the rollout done?" after final transitions, without one query per instance (completionChecks). Every request
 * is answered by a check that starts after it was made (so after the transition that asked committed: of two
 * workers recording the last two instances at once, the later committer's check sees both). The job does not wait
 * for it: completing the rollout is bookkeeping, not part of recording the attempt, and should this process die
 * first, the reconciler completes rollouts whose instances are all final.
 */
async function completeIfDone(deps: InstallProcessorDeps, rolloutId: string): Promise<void> {
  const completed = await persistThroughOutage('completing the rollout', deps.logger.child({ rolloutId }), () =>
    completeRolloutIfDone(deps.db, rolloutId, deps.control.by),
  );
  if (completed) {
    deps.rollouts.invalidate(rolloutId);
    deps.logger.info('rollout completed', { rolloutId });
  }
}

/**
 * A CallResult standing for a lost call's success, as NodeStatus showed it (the agent up after the lost call): it
 * carries the NodeStatus RequestId, and says in its message how the success was inferred.
 */
function inferredSuccess(status: NodeStatusResult, replay: CallResult): CallResult {
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

function toAnswer(result: CallResult, recorded: RecordAnswer['recorded']): AttemptAnswer {
  return {
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

/** Puts the job back in its queue for the decided time; never returns (BullMQ's DelayedError ends the job's run). */
function delayJob(job: InstallJob, token: string | undefined, delay: JobDelay): Promise<never> {
  return delayInstallJob(job, token, delay.ms);
}
