/**
 * What an install job does next, step by step, decided from plain facts: the rollout as last read, what the limits
 * said, what the claim in Postgres came to, what NodeInstall answered, and what recording the answer did. Pure: no
 * I/O and no clock or randomness of its own (`now` and `random` come in as values), so every branch is tested with
 * plain data. The worker performs the decision (delay the job, make the call, record, pause the rollout) and
 * switches over it exhaustively.
 *
 * A job goes:
 *   start   rollout closed or gone -> skip;  paused -> delay;  running -> admit
 *   admit   account rate used up -> delay;  no global slot -> delay;  admitted -> claim
 *   claim   instance final or gone -> skip;  rollout paused meanwhile -> delay (and forget the rollout read);
 *           another call may be in flight -> delay until it must have ended;  the claim ended the instance -> closed;
 *           claimed, or a dead worker's attempt to replay -> call
 *   answer  a replay refused as already received (SignatureNonceUsed): with Force=true ask NodeStatus first, then
 *           agent up -> record the lost call as the success it was, else -> answer lost (delay, then attempt N+1);
 *           any other answer -> record (verdict, next attempt, manual-install reason, rate, fleet-wide pause)
 *   after   duplicate or moved on -> skip;  back to pending -> delay until the next attempt;  final -> finished
 */
import { assertNever } from '@fleet/errors';
import { manualInstallReasonFor } from './manual-install.ts';
import type { ManualInstallReason } from './manual-install.ts';
import { retryDelayMs } from './retry-policy.ts';
import type { RetryPolicy } from './retry-policy.ts';
import type { AttemptOutcomeClass, AttemptVerdict, InstanceState, RolloutStatus } from './states.ts';

/**
 * A job of a paused rollout looks again after this long, in ms. Most of a paused rollout's jobs wait in BullMQ's
 * paused list and never run; this is for the few already taken when the pause came (and those delayed again), so a
 * second bounds how late they notice a resume without a job spinning through Redis and Postgres meanwhile.
 */
export const PAUSED_RECHECK_MS = 1000;

/**
 * Added at random (0 up to this, in ms) to the wait after which a job sent back by the account's schedule asks
 * again. Each is given its own place in the queue already; the jitter only keeps jobs told nearly the same time from
 * arriving in one clump.
 */
export const RATE_WAIT_JITTER_MS = 20;

/**
 * A job refused a global slot looks again after SLOT_RECHECK_MIN_MS plus up to SLOT_RECHECK_JITTER_MS at random.
 * Nothing says when a slot frees (a call lasts from a few ms to the call timeout): 20 ms keeps a freed slot from
 * idling long, and the 80 ms spread keeps the refused jobs from asking again all in the same instant.
 */
export const SLOT_RECHECK_MIN_MS = 20;
export const SLOT_RECHECK_JITTER_MS = 80;

/**
 * Added at random (0 up to this, in ms) to the time another delivery's call must have ended (the claim's retryAt),
 * so that deliveries waiting on the same stale attempt do not all claim at once. Small next to the call timeout and
 * its grace, which retryAt already includes.
 */
export const BUSY_RECHECK_JITTER_MS = 1000;

/**
 * After a dead worker's answer was found lost, the next attempt comes after ANSWER_LOST_MIN_MS plus up to
 * ANSWER_LOST_JITTER_MS at random: at once in effect (the instance is not at fault, no backoff is owed), through the
 * queue so the new claim passes the limits again, spread a little so the many replays after a crash do not claim in
 * one burst.
 */
export const ANSWER_LOST_MIN_MS = 1;
export const ANSWER_LOST_JITTER_MS = 20;

/**
 * An instance back to pending with no due time (a fleet-wide error deferred it while the rollout pauses) looks again
 * after this long, in ms: by then the pause is in force and the job waits as every job of a paused rollout does.
 */
export const DEFERRED_RECHECK_MS = 1000;

/** Longest pause reason stored on the rollout, in characters (the error message of the answer is cut to fit). */
const PAUSE_REASON_MAX_LENGTH = 500;

/** Why a job goes back to its queue for a while instead of going on now. */
export type JobDelayReason =
  | 'rollout_paused'
  | 'account_rate'
  | 'global_slot'
  /** install-monitoring-agent: every instance the rollout's concurrency allows is in a call. */
  | 'instance_concurrency'
  | 'call_in_flight'
  | 'answer_lost'
  | 'retry_backoff'
  | 'deferred';

/** Put the job back in its queue for `ms` (its concurrency slot is freed meanwhile); `ms` <= 0: it is due already. */
export type JobDelay = { kind: 'delay'; ms: number; why: JobDelayReason };

/** Injected randomness: a value in [0, 1), drawn by the caller for this one decision. */
type Random = { random: number };

// ---------------------------------------------------------------------------------------------------------------
// start: the rollout as this process last read it

/** `admit` carries the rollout it was decided for, so that what follows knows it is there. */
export type JobStartDecision<R> = { kind: 'skip'; why: 'rollout_closed' } | JobDelay | { kind: 'admit'; rollout: R };

/** `rollout` null: the rollout is gone. */
export function decideJobStart<R extends { status: RolloutStatus }>(rollout: R | null): JobStartDecision<R> {
  if (!rollout) return { kind: 'skip', why: 'rollout_closed' };
  const status: RolloutStatus = rollout.status;
  switch (status) {
    case 'completed':
    case 'cancelled':
      return { kind: 'skip', why: 'rollout_closed' };
    // Scheduled or waiting ones: the worker pool opens no queue for them, so only a job already taken meets them.
    case 'paused':
    case 'scheduled':
    case 'waiting_for_window':
      return { kind: 'delay', ms: PAUSED_RECHECK_MS, why: 'rollout_paused' };
    case 'running':
      return { kind: 'admit', rollout };
    default:
      return assertNever(status, 'rollout status');
  }
}

// ---------------------------------------------------------------------------------------------------------------
// admit: the account's rate and the global cap, asked together before the claim (a claim means a call is made)

/**
 * What the call admission answered (@fleet/limits Admission): admitted with its start `waitMs` away (reserved on the
 * account's schedule; `startsAtMs` the start itself on the schedule's clock, to the fraction of a millisecond), or
 * sent back; `slot` is given back once the call is over.
 */
export type AdmissionFacts<Slot> =
  | { kind: 'admitted'; slot: Slot; waitMs: number; lateMs?: number; startsAtMs?: number; lateToleranceMs?: number }
  | { kind: 'rate'; waitMs: number }
  | { kind: 'slot' };

/**
 * A call this late (ms) for its reserved start takes a new one, when the admission names no tolerance of its own
 * (`lateToleranceMs`: the room the account's schedule leaves, see @fleet/limits LATE_START_BUDGET_MS): sent then, it
 * would bunch with the calls reserved after it, and the account would see more than its rate in that second. The old
 * start goes unused, so a stall costs the quota of its length and never more than the rate.
 */
export const LATE_START_TOLERANCE_MS = 25;

/**
 * Longest a job sent back for its account's rate waits for it in the worker (a `hold`), ms; a longer wait (an
 * account throttled far below the rollout's concurrency) is a delay in the queue.
 */
export const HOLD_FOR_RATE_MAX_MS = 60_000;

/**
 * `claim`: wait `waitMs` in the job (the start is reserved; the admission bounds the wait), then claim and call.
 * A longer wait was answered `rate`: the job is held in the worker for it (`hold`, then admitted again), keeping its
 * place in the rollout's concurrency. Delayed in the queue instead, it would free that place, which the queue fills
 * at once with another job told the same, so every job of a rollout wider than its account's rate would be fetched
 * twice, the first time for nothing. Only a wait beyond HOLD_FOR_RATE_MAX_MS, or a full global cap (whose slots free
 * within a call's time, and whose fair share must let other rollouts' jobs in), is a delay in the queue.
 */
export type AdmissionDecision<Slot> =
  | JobDelay
  | { kind: 'hold'; ms: number; why: 'account_rate' }
  | { kind: 'claim'; slot: Slot; waitMs: number; startsAtMs?: number; lateToleranceMs?: number }
  /**
   * Admitted, but the admission's answer came more than LATE_START_TOLERANCE_MS after the start it reserved (a slow
   * round trip, a process waiting for the CPU): take a new start on the schedule before the claim, so the attempt
   * row records the start the call is sent at. The slot is held.
   */
  | { kind: 'retake_start'; slot: Slot; lateMs: number; lateToleranceMs?: number };

export function decideAdmission<Slot>(admission: AdmissionFacts<Slot>, { random }: Random): AdmissionDecision<Slot> {
  switch (admission.kind) {
    case 'admitted': {
      const tolerance = admission.lateToleranceMs === undefined ? {} : { lateToleranceMs: admission.lateToleranceMs };
      if ((admission.lateMs ?? 0) > (admission.lateToleranceMs ?? LATE_START_TOLERANCE_MS))
        return { kind: 'retake_start', slot: admission.slot, lateMs: admission.lateMs ?? 0, ...tolerance };
      return {
        kind: 'claim',
        slot: admission.slot,
        waitMs: admission.waitMs,
        ...(admission.startsAtMs === undefined ? {} : { startsAtMs: admission.startsAtMs }),
        ...tolerance,
      };
    }
    case 'rate': {
      const ms = admission.waitMs + random * RATE_WAIT_JITTER_MS;
      return { kind: ms <= HOLD_FOR_RATE_MAX_MS ? 'hold' : 'delay', ms, why: 'account_rate' };
    }
    case 'slot':
      return { kind: 'delay', ms: SLOT_RECHECK_MIN_MS + random * SLOT_RECHECK_JITTER_MS, why: 'global_slot' };
    default:
      return assertNever(admission, 'admission');
  }
}

// ---------------------------------------------------------------------------------------------------------------
// claim: the attempt row written in Postgres, or why none was

/** What the claim came to (@fleet/db ClaimResult). */
export type ClaimFacts =
  | { kind: 'claimed' }
  | { kind: 'replay' }
  | { kind: 'final' }
  | { kind: 'missing' }
  | { kind: 'paused' }
  | { kind: 'busy'; retryAt: Date }
  | { kind: 'closed'; to: InstanceState };

/** A claim that makes the call: a new attempt, or the replay of a dead worker's attempt. */
type CallingClaim<C> = Extract<C, { kind: 'claimed' | 'replay' }>;

export type ClaimDecision<C> =
  /** Make the NodeInstall call (a new attempt, or exactly the request of a dead worker's attempt). */
  | { kind: 'call'; claim: CallingClaim<C> }
  | { kind: 'skip'; why: 'instance_final' }
  /** The claim itself ended the instance (cancelled rollout, instance timeout): the rollout reacts as to any end. */
  | { kind: 'closed'; to: 'cancelled' | 'failed'; claim: Extract<C, { kind: 'closed' }> }
  /** `refreshRollout`: the rollout as last read is out of date (it was paused since); read it again next time. */
  | (JobDelay & { refreshRollout: boolean });

/** `claim`: the claim's result (@fleet/db ClaimResult); `call` and `closed` hand it back, narrowed. */
export function decideClaim<C extends ClaimFacts>(claim: C, { now, random }: Random & { now: Date }): ClaimDecision<C> {
  const facts: ClaimFacts = claim;
  switch (facts.kind) {
    case 'claimed':
    case 'replay':
      return { kind: 'call', claim: claim as CallingClaim<C> };
    case 'final':
    case 'missing':
      return { kind: 'skip', why: 'instance_final' };
    case 'paused':
      return { kind: 'delay', ms: PAUSED_RECHECK_MS, why: 'rollout_paused', refreshRollout: true };
    case 'busy':
      // Another delivery of this job may still be calling; look again once its call must have ended.
      return {
        kind: 'delay',
        ms: facts.retryAt.getTime() - now.getTime() + random * BUSY_RECHECK_JITTER_MS,
        why: 'call_in_flight',
        refreshRollout: false,
      };
    case 'closed':
      return {
        kind: 'closed',
        to: facts.to === 'cancelled' ? 'cancelled' : 'failed',
        claim: claim as Extract<C, { kind: 'closed' }>,
      };
    default:
      return assertNever(facts, 'claim result');
  }
}

// ---------------------------------------------------------------------------------------------------------------
// answer: what NodeInstall said, and what the instance, the account's rate and the rollout make of it

/** The client's classification of an answer (@fleet/cms-client CallOutcomeKind). */
export type AnswerKind = 'success' | 'retryable' | 'throttled' | 'resign' | 'final' | 'fleet_wide';

export type AnswerFacts = {
  kind: AnswerKind;
  /** The coarse class of `kind` an attempt record stores (@fleet/cms-client attemptOutcomeClass). */
  outcome: AttemptOutcomeClass;
  errorCode: string | null;
  errorMessage: string | null;
  httpStatus: number | null;
  /** The attempt this answer is for (1-based). */
  attemptNo: number;
  /** The call sent again exactly the request of an attempt whose worker died (claim `replay`). */
  replay: boolean;
  /** The rollout installs with Force=true. */
  force: boolean;
};

/** Whether the account's adapted rate learns of this answer: halved on throttling, grown on success. */
export type AccountRateSignal = 'throttled' | 'success' | 'none';

/** What to write on the attempt row and the instance (@fleet/db FinishInput), and what to do around it. */
export type RecordAnswer = {
  kind: 'record';
  /** What the answer means for the instance; `deferred` for a fleet-wide error. */
  verdict: AttemptVerdict;
  /**
   * The class and kind the attempt row stores. `success_inferred`: a lost call recorded as the success NodeStatus
   * showed it was; a fleet-wide error is stored as retryable, as the instance will be tried again.
   */
  recorded: { outcome: AttemptOutcomeClass; outcomeKind: AnswerKind | 'success_inferred' };
  /** When the next attempt is due; only for a `retryable` verdict. */
  nextAttemptAt: Date | null;
  /** Why the instance would need a person, should this answer end it; null for a success. */
  manualInstallReason: ManualInstallReason | null;
  accountRate: AccountRateSignal;
  /** Set for a fleet-wide error: pause the rollout at once, with this reason. */
  pauseRollout: string | null;
};

/**
 * The dead worker's call reached CloudMonitor and its answer is lost: close the attempt as such and come back after
 * `ms` for attempt N+1.
 */
export type AnswerLost = { kind: 'answer_lost'; ms: number };

export type AnswerDecision =
  | RecordAnswer
  | AnswerLost
  /**
   * A replay refused as already received, with Force=true: ask NodeStatus whether the lost call installed the agent,
   * then decideAfterAgentCheck.
   */
  | { kind: 'answer_check' };

/** A replayed request refused as already received: its first copy, the dead worker's, reached CloudMonitor. */
function isLostAnswer(answer: AnswerFacts): boolean {
  return answer.replay && answer.errorCode === 'SignatureNonceUsed';
}

function answerLost(random: number): AnswerLost {
  return { kind: 'answer_lost', ms: ANSWER_LOST_MIN_MS + random * ANSWER_LOST_JITTER_MS };
}

export function decideAnswer(
  answer: AnswerFacts,
  { retry, now, random }: Random & { retry: RetryPolicy; now: Date },
): AnswerDecision {
  if (isLostAnswer(answer)) {
    // The first copy of this request reached CloudMonitor; its answer died with its worker. With Force=true a new
    // attempt would reinstall an agent the lost call may have installed: NodeStatus is asked first. Without Force a
    // new attempt cannot harm a running agent, so it follows at once.
    return answer.force ? { kind: 'answer_check' } : answerLost(random);
  }

  const fleetWide = answer.kind === 'fleet_wide';
  const verdict: AttemptVerdict = fleetWide ? 'deferred' : answer.outcome;
  const nextAttemptAt =
    verdict === 'retryable'
      ? new Date(
          now.getTime() +
            retryDelayMs(
              retry,
              answer.attemptNo,
              answer.kind === 'throttled' ? 'throttled' : 'transient',
              () => random,
            ),
        )
      : null;
  return {
    kind: 'record',
    verdict,
    recorded: { outcome: fleetWide ? 'retryable' : answer.outcome, outcomeKind: answer.kind },
    nextAttemptAt,
    manualInstallReason:
      answer.outcome === 'success'
        ? null
        : manualInstallReasonFor({
            outcomeKind: answer.kind,
            errorCode: answer.errorCode,
            errorMessage: answer.errorMessage,
            httpStatus: answer.httpStatus,
            retriesExhausted: answer.outcome === 'retryable' && answer.attemptNo >= retry.maxAttempts,
          }),
    accountRate: answer.kind === 'throttled' ? 'throttled' : answer.outcome === 'success' ? 'success' : 'none',
    // Bad credentials, a signature mismatch or Forbidden fail every instance alike: stop the rollout at once with
    // the reason instead of burning through the fleet. The instance waits (pending) for the resume.
    pauseRollout: fleetWide
      ? `fleet-wide error ${answer.errorCode ?? ''}: ${answer.errorMessage ?? ''}`.slice(0, PAUSE_REASON_MAX_LENGTH)
      : null,
  };
}

/**
 * After `answer_check`: `agentStatus` is what NodeStatus reported (null: no clear answer). An agent running, or
 * installing after the lost call, means the lost call worked: it is recorded as the success it evidently was (the
 * reconciler still verifies it), and no second install is sent. Otherwise a new attempt follows.
 */
export function decideAfterAgentCheck(agentStatus: string | null, { random }: Random): RecordAnswer | AnswerLost {
  if (agentStatus !== 'running' && agentStatus !== 'installing') return answerLost(random);
  return {
    kind: 'record',
    verdict: 'success',
    recorded: { outcome: 'success', outcomeKind: 'success_inferred' },
    nextAttemptAt: null,
    manualInstallReason: null,
    accountRate: 'success',
    pauseRollout: null,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// after: what recording the answer did to the instance

/** What recording the answer came to (@fleet/db FinishResult). */
export type RecordedFacts =
  { kind: 'transitioned'; to: InstanceState } | { kind: 'recorded_only' } | { kind: 'duplicate' };

export type AfterRecordDecision =
  /** This answer was recorded before (a duplicate delivery): nothing changed. */
  | { kind: 'duplicate' }
  /** The answer was recorded, but the instance had moved on (a newer attempt, or final). */
  | { kind: 'moved_on' }
  | JobDelay
  /** The instance reached a final state: the rollout reacts (abort threshold, next wave, completion). */
  | { kind: 'finished'; to: 'succeeded' | 'failed' | 'cancelled' };

export function decideAfterRecord(
  recorded: RecordedFacts,
  { nextAttemptAt, now }: { nextAttemptAt: Date | null; now: Date },
): AfterRecordDecision {
  switch (recorded.kind) {
    case 'duplicate':
      return { kind: 'duplicate' };
    case 'recorded_only':
      return { kind: 'moved_on' };
    case 'transitioned':
      switch (recorded.to) {
        case 'pending':
          return nextAttemptAt
            ? { kind: 'delay', ms: nextAttemptAt.getTime() - now.getTime(), why: 'retry_backoff' }
            : { kind: 'delay', ms: DEFERRED_RECHECK_MS, why: 'deferred' };
        case 'succeeded':
        case 'failed':
        case 'cancelled':
          return { kind: 'finished', to: recorded.to };
        // Recording an answer never leaves an instance in progress, nor skips it (that is a status check's, before
        // any NodeInstall: states.ts); should it, the instance is not ours to move any more and the job ends as for
        // a final one, as it always has.
        case 'in_progress':
        case 'skipped':
          return { kind: 'finished', to: 'failed' };
        default:
          return assertNever(recorded.to, 'instance state');
      }
    default:
      return assertNever(recorded, 'recorded answer');
  }
}
