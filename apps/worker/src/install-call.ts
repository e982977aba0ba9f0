import { randomUUID } from 'node:crypto';
import type { CallResult, NodeStatusResult, SendAt, TimedCall } from '@fleet/cms-client';
import { attemptOutcomeClass, monotonicMs } from '@fleet/cms-client';
import type { ClaimResult } from '@fleet/db';
import { assertNever } from '@fleet/errors';
import type { AdmissionDecision, AnswerLost, ClaimDecision, RecordAnswer } from '@fleet/rollout-domain';
import { decideAfterAgentCheck, decideAnswer, decideClaim, LATE_START_TOLERANCE_MS } from '@fleet/rollout-domain';
import type { JobRun, Processor } from './install-job-run.ts';
import { persistThroughOutage } from './persist-through-outage.ts';

/** Grace beyond the call timeout before another worker presumes a call's worker dead. */
export const STALE_GRACE_MS = 5_000;

/** A claim that made the call: a new attempt, or the replay of a dead worker's attempt. */
export type CallingClaim = Extract<ClaimResult, { kind: 'claimed' | 'replay' }>;

/** The call is over: its answer (or the success NodeStatus showed a lost call to have been), and what it means. */
export type Answered = {
  kind: 'answered';
  claim: CallingClaim;
  result: CallResult;
  decision: RecordAnswer | AnswerLost;
  /** When the start the call was sent at was reserved, on the schedule's clock (CallStart.reservedOnScheduleAtMs). */
  reservedAtMs: number;
};

/** A claim that made no call: the job ends or waits without one. */
export type ClaimWithoutCall = Exclude<ClaimDecision<ClaimResult>, { kind: 'call' }>;

/**
 * The call's reserved start: when it is (the attempt is claimed as of then, so its started_at and its signature's
 * timestamp are the call's), and the wait for it, null when it is now.
 */
export type CallStart = {
  at: Date;
  /** The same moment on the process's monotonic clock (monotonicMs), which the CMS client sends at. */
  atMonotonicMs: number;
  /** The same moment on the schedule's clock, which the rollout's window end is compared with. */
  windowAt: Date;
  /**
   * The wait for it on this loop, with an injected InstallProcessorDeps.sleep (a test's busy process); else null, and
   * the client waits where it sends (CmsClient.nodeInstallAt: the worker's send thread).
   */
  reached: Promise<void> | null;
  /** How late the call may be for its start and still be sent (lateStartToleranceMs). */
  lateToleranceMs: number;
  /**
   * The start as reserved, on the schedule's clock (AccountRateLimiter.schedule.now), exactly: `at` unless the
   * admission answered after it. Lateness is measured from here on the same clock, so a call already late when
   * admitted is not allowed the tolerance again after its claim, and neither another clock nor a reading rounded to
   * the millisecond moves it (the tolerance leaves one millisecond, for the processes' clocks to disagree by).
   */
  reservedStartMs: number;
  /**
   * When this start was reserved, on the schedule's clock (AccountRateLimiter.schedule.now): a throttled answer to a
   * call reserved before the account's rate last fell does not lower it again (AccountRateLimiter.onThrottled).
   */
  reservedOnScheduleAtMs: number;
};

/** An admission that lets the call go: with its reserved start, or one that missed it and takes another. */
export type AdmittedCall = Extract<AdmissionDecision<string>, { kind: 'claim' | 'retake_start' }>;

/**
 * The call's start from its admission: the start reserved, or, for a call whose admission answered after its start
 * had passed (retake_start), a new one taken now, so that the attempt row records the start the call is sent at.
 */
export async function startOf(p: Processor, run: JobRun, admission: AdmittedCall): Promise<CallStart> {
  const tolerance = admission.lateToleranceMs ?? LATE_START_TOLERANCE_MS;
  if (admission.kind === 'claim') {
    if (admission.startsAtMs !== undefined) return startAt(p, admission.startsAtMs, tolerance);
    return startIn(p, admission.waitMs, tolerance);
  }
  return startAt(p, await retakeStart(p, run, admission.lateMs), tolerance);
}

/**
 * The start reserved at `startsAtMs` on the schedule's clock, as the processor's clocks tell it: the exact start,
 * not one rounded to a millisecond nor measured from a later reading of the clock (each would move the call off the
 * spacing its neighbours keep, and two calls a few tenths of a millisecond too close make a second with one call
 * more than the rate).
 */
function startAt(p: Processor, startsAtMs: number, lateToleranceMs: number): CallStart {
  return startBy(p, startsAtMs - p.deps.accountRate.schedule.now(), startsAtMs, lateToleranceMs);
}

function startIn(p: Processor, waitMs: number, lateToleranceMs: number): CallStart {
  return startBy(p, waitMs, p.deps.accountRate.schedule.now() + waitMs, lateToleranceMs);
}

/** Built as its admission (or retake) answers: the start was reserved now, as near as this process can tell. */
function startBy(p: Processor, waitMs: number, reservedStartMs: number, lateToleranceMs: number): CallStart {
  const wait = Math.max(0, waitMs);
  return {
    at: new Date(p.now().getTime() + wait),
    atMonotonicMs: monotonicMs() + waitMs,
    windowAt: new Date(p.scheduleNow().getTime() + wait),
    // Waited for here only with an injected sleep (InstallProcessorDeps.sleep); else by the client, where it sends.
    reached: p.deps.sleep !== undefined && wait > 0 ? p.sleep(wait) : null,
    lateToleranceMs,
    reservedStartMs,
    reservedOnScheduleAtMs: p.deps.accountRate.schedule.now(),
  };
}

/** A new start on the account's schedule for a call that missed its own; the start on the schedule's clock. */
async function retakeStart(p: Processor, run: JobRun, lateMs: number): Promise<number> {
  // The slot is held and the call goes whatever happens: with Redis away, late rather than not at all.
  return p.admission.retakeStart(run.rollout.userId).catch((error: unknown) => {
    run.log.warn('could not take a new start for a late call; calling now', { lateMs, error });
    return p.deps.accountRate.schedule.now();
  });
}

/**
 * Most new starts one call takes for being late for its start (see callAtStart). A process whose timers are late
 * for every start (its CPU taken for seconds on end) would otherwise retake them for ever and send nothing.
 */
export const MAX_START_RETAKES = 3;

/**
 * Sends the call at its start (`send`: CmsClient.nodeInstallAt, which waits in the worker's send thread, whose loop
 * runs nothing else) only if the thread that sends comes to it no later than its tolerance (the claim outlasted the
 * wait, or took that long for a call that was to start at once: Postgres slow, the process busy); a later call takes
 * a new start instead: sent then, it would bunch with the calls scheduled after it, and the account would see more
 * than its rate. Its old start goes unused, so a stall costs the quota of its length. The new start is held to the
 * same tolerance (counted: a retaken start sent 23 ms late at 50/s made a second of 52 calls), up to
 * MAX_START_RETAKES times; a call late for that many starts goes at the last of them, however late, and is logged
 * (its lateness is in fleet_call_start_lateness_seconds). Answers the call's result and when the start it went at
 * was reserved, on the schedule's clock (CallStart.reservedOnScheduleAtMs).
 */
export async function callAtStart<R>(
  p: Processor,
  run: JobRun,
  start: CallStart,
  send: (at: SendAt) => Promise<TimedCall<R>>,
): Promise<{ result: R; reservedAtMs: number }> {
  let current = start;
  for (let retakes = 0; ; retakes++) {
    if (current.reached) await current.reached;
    const last = retakes >= MAX_START_RETAKES;
    const timed = await send({
      atMs: current.atMonotonicMs,
      lateToleranceMs: last ? Number.MAX_SAFE_INTEGER : current.lateToleranceMs,
    });
    const retake = timed.kind === 'late';
    const overdue = timed.kind === 'sent' && timed.lateMs > current.lateToleranceMs;
    p.deps.metrics?.callStarted({ lateMs: timed.lateMs, retaken: retake, overdue });
    if (timed.kind === 'sent') {
      if (overdue) {
        run.log.warn('call sent late for its start: it was late for every start it took', {
          lateMs: Math.round(timed.lateMs),
          retakes,
        });
      }
      return { result: timed.result, reservedAtMs: current.reservedOnScheduleAtMs };
    }
    current = startAt(p, await retakeStart(p, run, timed.lateMs), current.lateToleranceMs);
  }
}

/**
 * Claims an attempt and, when the claim says so, makes the call at `start`: everything done while holding a global
 * slot.
 */
export async function claimAndCall(p: Processor, run: JobRun, start: CallStart): Promise<ClaimWithoutCall | Answered> {
  const claimed = await persistThroughOutage('claiming an attempt', run.log, () =>
    p.attempts.claim({
      rolloutInstanceId: run.rolloutInstanceId,
      rolloutId: run.rollout.id,
      workerId: p.deps.workerId,
      // Every request is signed with a nonce and timestamp stored on its attempt row first, so that whoever
      // takes over after this worker dies can send exactly this request again (see ClaimResult 'replay').
      signatureNonce: randomUUID(),
      // Which credentials sign it, so that a replay signs with the same ones whatever rotated since.
      credentialsId: run.account.credentialsId,
      staleAfterMs: p.deps.callTimeoutMs + STALE_GRACE_MS,
      instanceTimeoutMs: run.rollout.policy.instanceTimeoutMs,
      now: start.at,
      windowNow: start.windowAt,
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
  // A replay is the very request its attempt sent: signed with the same credentials, even if they were rotated since.
  const cms =
    claim.kind === 'replay'
      ? await p.deps.accounts.withCredentials(run.rollout.userId, claim.credentialsId)
      : run.account.cms;
  const input = {
    userId: run.rollout.userId,
    instanceId: run.instanceId,
    force: run.rollout.force,
    ...(claim.signing ? { exactSigning: claim.signing } : {}),
  };
  const { result, reservedAtMs } = await callAtStart(p, run, start, (at) => cms.nodeInstallAt(input, at));
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
      return { kind: 'answered', claim, result, decision: answer, reservedAtMs };
    case 'answer_check': {
      // Did the lost call install the agent? NodeStatus says whether it is up (running, or installing after it).
      const status = await run.account.cms.nodeStatus({ instanceId: run.instanceId });
      const afterCheck = decideAfterAgentCheck(status.status, { random: p.random() });
      return {
        kind: 'answered',
        claim,
        result: afterCheck.kind === 'record' ? inferredSuccess(status, result) : result,
        decision: afterCheck,
        reservedAtMs,
      };
    }
    default:
      return assertNever(answer, 'answer');
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
