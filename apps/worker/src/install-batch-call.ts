import { randomUUID } from 'node:crypto';
import type { CallResult } from '@fleet/cms-client';
import { attemptOutcomeClass } from '@fleet/cms-client';
import type { CallMember, FinishResult, InstallCallClaim } from '@fleet/db';
import { claimInstallCall, markAttemptAnswerLost, peekInstallCall } from '@fleet/db';
import { assertNever } from '@fleet/errors';
import { pauseRollout } from '@fleet/rollout-control';
import type { AnswerLost, ClaimDecision, RecordAnswer } from '@fleet/rollout-domain';
import {
  decideAfterAgentCheck,
  decideAfterRecord,
  decideAnswer,
  decideCallClaim,
  decideCallPeek,
  INSTALL_CALL_MAX_INSTANCES,
} from '@fleet/rollout-domain';
import { admitCall } from './admit-call.ts';
import { afterFinal } from './after-final.ts';
import type { CallStart } from './install-call.ts';
import { callAtStart, STALE_GRACE_MS, startOf } from './install-call.ts';
import type { InstallJobOutcome, JobRun, Processor } from './install-job-run.ts';
import { delayJob } from './install-job-run.ts';
import { persistThroughOutage } from './persist-through-outage.ts';
import { signalAccountRate, toAnswer } from './record-answer.ts';

/**
 * The install path of the `install-monitoring-agent` driver: one InstallMonitoringAgent call for up to 10 instances
 * of one rollout. It keeps the job-per-instance model of NodeInstall (every instance has its job; the reconciler
 * re-adds a lost one per instance): the job of one instance, once admitted, claims its instance and up to nine more
 * pending ones of the rollout in one guarded write (@fleet/db claimInstallCall), makes the call, and records its one
 * answer on every instance's attempt row. The jobs of the instances it took find them in flight or final and wait or
 * end, as a second delivery does. A queue of calls apart from the instances' jobs was the alternative: it would need
 * its own recovery from a flushed Redis, which the per-instance jobs and the reconciler already give.
 *
 * Limits: the account's rate and the global cap count calls (one admission per call, as for NodeInstall); the
 * rollout's concurrency counts instances, decided in Postgres by the claim (BullMQ's per-queue concurrency counts
 * jobs, and one job here holds up to 10 instances). Before asking the limits the job looks at its instance
 * (peekInstallCall), so that jobs whose instance another call took do not spend the account's quota.
 */
export async function runInstallCall(p: Processor, run: JobRun): Promise<InstallJobOutcome> {
  const staleAfterMs = p.deps.callTimeoutMs + STALE_GRACE_MS;
  const peek = await persistThroughOutage('looking at an instance', run.log, () =>
    peekInstallCall(p.deps.db, run.rolloutInstanceId),
  );
  const look = decideCallPeek(peek, { now: p.now(), random: p.random(), staleAfterMs });
  switch (look.kind) {
    case 'skip':
      return 'skipped_final';
    case 'delay':
      return delayJob(run.job, run.token, look);
    case 'admit':
      break;
    default:
      return assertNever(look, 'peek');
  }

  const admission = await admitCall(p, run);
  if (typeof admission === 'string') return admission;
  let next: Answered | Exclude<CallClaimDecision, { kind: 'call' }>;
  try {
    next = await claimAndCallMany(p, run, staleAfterMs, await startOf(p, run, admission));
  } finally {
    // The call is over (or was never made): its slot goes back with this process's next admit.
    p.admission.release(admission.slot);
  }
  switch (next.kind) {
    case 'skip':
      return 'skipped_final';
    case 'delay':
      if (next.refreshRollout) p.deps.rollouts.invalidate(run.rollout.id);
      return delayJob(run.job, run.token, next);
    case 'closed':
      run.log.info('instance closed without a call', { to: next.to, reason: next.claim.reason });
      p.deps.metrics?.instanceFinished(next.to);
      await afterFinal(p, run);
      return next.to;
    case 'answered':
      return settleCall(p, run, next);
    default:
      return assertNever(next, 'call claim');
  }
}

type CallingClaim = Extract<InstallCallClaim, { kind: 'claimed' | 'replay' }>;
type CallClaimDecision = ClaimDecision<Exclude<InstallCallClaim, { kind: 'full' | 'not_due' }>>;

type Answered = {
  kind: 'answered';
  claim: CallingClaim;
  result: CallResult;
  /** What the answer means for each member's attempt (attempt numbers differ, so retry times and reasons do too). */
  decisions: Map<bigint, RecordAnswer | AnswerLost>;
  /** When the call's start was reserved, on the schedule's clock (see callAtStart). */
  reservedAtMs: number;
};

async function claimAndCallMany(
  p: Processor,
  run: JobRun,
  staleAfterMs: number,
  start: CallStart,
): Promise<Answered | Exclude<CallClaimDecision, { kind: 'call' }>> {
  const claimed = await persistThroughOutage('claiming a call', run.log, () =>
    claimInstallCall(p.deps.db, {
      rolloutInstanceId: run.rolloutInstanceId,
      rolloutId: run.rollout.id,
      workerId: p.deps.workerId,
      callId: randomUUID(),
      // One nonce for the whole call, stored on every member's attempt row: a takeover sends this very request.
      signatureNonce: randomUUID(),
      credentialsId: run.account.credentialsId,
      maxInstances: INSTALL_CALL_MAX_INSTANCES,
      staleAfterMs,
      instanceTimeoutMs: run.rollout.policy.instanceTimeoutMs,
      skipInstalled: run.rollout.policy.skipInstalled,
      now: start.at,
      windowNow: start.windowAt,
    }),
  );
  const decision = decideCallClaim(claimed, { now: p.now(), random: p.random() });
  if (decision.kind !== 'call') return decision;
  const claim = decision.claim as CallingClaim;
  const instanceIds =
    claim.kind === 'replay' ? claim.instanceIds : [...claim.members.map((m) => m.instanceId)].sort(byId);
  if (claim.kind === 'replay') {
    run.log.warn('replaying the InstallMonitoringAgent call of a worker that died, to learn whether it arrived', {
      callId: claim.callId,
      instances: instanceIds.length,
      unresolved: claim.members.length,
    });
  } else if (claim.abandonedAttemptNo !== null) {
    run.log.warn('previous attempt abandoned by a dead worker', { attemptNo: claim.abandonedAttemptNo });
  }
  const cms =
    claim.kind === 'replay'
      ? await p.deps.accounts.withCredentials(run.rollout.userId, claim.credentialsId)
      : run.account.cms;
  const input = { instanceIds, force: run.rollout.force, exactSigning: claim.signing };
  const { result, reservedAtMs } = await callAtStart(p, run, start, (at) => cms.installMonitoringAgentAt(input, at));
  const decisions = new Map<bigint, RecordAnswer | AnswerLost>();
  const toCheck: CallMember[] = [];
  for (const member of claim.members) {
    const answer = decideAnswer(
      {
        kind: result.outcome.kind,
        outcome: attemptOutcomeClass(result.outcome),
        errorCode: result.errorCode,
        errorMessage: result.errorMessage,
        httpStatus: result.httpStatus,
        attemptNo: member.attemptNo,
        replay: claim.kind === 'replay',
        force: run.rollout.force,
      },
      { retry: run.rollout.retry, now: p.now(), random: p.random() },
    );
    if (answer.kind === 'answer_check') toCheck.push(member);
    else decisions.set(member.attemptId, answer);
  }
  if (toCheck.length > 0) {
    // The lost call's answer died with its worker; with Force=true, ask which agents it brought up before calling
    // again (one status call for the call's instances).
    const statuses = await run.account.cms.describeMonitoringAgentStatuses({
      instanceIds: toCheck.map((m) => m.instanceId),
    });
    for (const member of toCheck) {
      const status = statuses.statuses.get(member.instanceId) ?? null;
      decisions.set(member.attemptId, decideAfterAgentCheck(status, { random: p.random() }));
    }
  }
  return { kind: 'answered', claim, result, decisions, reservedAtMs };
}

const byId = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** A lost call's success as the status check showed it: the call's result, said to be inferred. */
function inferredSuccess(replay: CallResult): CallResult {
  return {
    ...replay,
    outcome: { kind: 'success' },
    success: true,
    errorCode: null,
    errorMessage:
      `answer lost with its worker (replay refused with SignatureNonceUsed, RequestId ${replay.requestId ?? 'none'}); ` +
      'DescribeMonitoringAgentStatuses showed the agent up',
  };
}

/** Records the call's one answer on every member's attempt row, then lets the leader's instance and the rollout move on. */
async function settleCall(p: Processor, run: JobRun, answered: Answered): Promise<InstallJobOutcome> {
  const { claim, result, decisions } = answered;
  const { rollout, log } = run;
  const settled = await Promise.all(
    claim.members.map(async (member) => {
      const decision = decisions.get(member.attemptId)!;
      if (decision.kind === 'answer_lost') {
        await persistThroughOutage('closing an attempt whose answer was lost', log, () =>
          markAttemptAnswerLost(p.deps.db, {
            attemptId: member.attemptId,
            at: result.finishedAt,
            replayRequestId: result.requestId,
          }),
        );
        return { member, decision, finish: null };
      }
      const answer = decision.recorded.outcomeKind === 'success_inferred' ? inferredSuccess(result) : result;
      const finish: FinishResult = await persistThroughOutage('recording an attempt', log, () =>
        p.attempts.finish({
          rolloutInstanceId: member.rolloutInstanceId,
          attemptId: member.attemptId,
          attemptNo: member.attemptNo,
          maxAttempts: rollout.retry.maxAttempts,
          answer: toAnswer(answer, decision.recorded, claim.kind === 'replay'),
          verdict: decision.verdict,
          instanceTimeoutMs: rollout.policy.instanceTimeoutMs,
          nextAttemptAt: decision.nextAttemptAt,
          manualInstallReason: decision.manualInstallReason,
        }),
      );
      if (finish.kind !== 'duplicate') {
        p.deps.metrics?.callRecorded({
          userId: rollout.userId,
          outcome: decision.recorded.outcome,
          throttled: result.outcome.kind === 'throttled',
          durationMs: result.durationMs,
        });
      }
      return { member, decision, finish };
    }),
  );
  // The account saw one call: its rate learns of it once.
  const recorded = settled.flatMap((s) => (s.decision.kind === 'record' ? [s.decision] : []));
  if (recorded[0])
    await signalAccountRate(p.deps.accountRate, rollout.userId, recorded[0].accountRate, answered.reservedAtMs);
  log.info('InstallMonitoringAgent call recorded', {
    callId: claim.callId,
    instances: claim.members.length,
    replay: claim.kind === 'replay',
    outcome: result.outcome,
    httpStatus: result.httpStatus,
    requestId: result.requestId,
    durationMs: result.durationMs,
  });
  const pauseReason = recorded.find((d) => d.pauseRollout !== null)?.pauseRollout ?? null;
  if (pauseReason !== null) {
    await persistThroughOutage('pausing the rollout', log, () =>
      pauseRollout(p.deps.control, rollout.id, pauseReason, {
        kind: 'fleet_wide_error',
        code: result.errorCode ?? null,
      }),
    );
    p.deps.rollouts.invalidate(rollout.id);
  }

  let anyFinished = false;
  let leader: InstallJobOutcome | (() => Promise<never>) = 'duplicate';
  for (const { member, decision, finish } of settled) {
    const isLeader = member.rolloutInstanceId === run.rolloutInstanceId;
    if (decision.kind === 'answer_lost' || finish === null) {
      // Attempt N+1 follows soon, through the limits again: the leader's job now, the others' when they come.
      const ms = decision.kind === 'answer_lost' ? decision.ms : 0;
      if (isLeader) leader = () => delayJob(run.job, run.token, { kind: 'delay', ms, why: 'answer_lost' });
      continue;
    }
    const after = decideAfterRecord(finish, {
      nextAttemptAt: decision.kind === 'record' ? decision.nextAttemptAt : null,
      now: p.now(),
    });
    switch (after.kind) {
      case 'duplicate':
        if (isLeader) leader = 'duplicate';
        break;
      case 'moved_on':
        if (isLeader) leader = 'skipped_final';
        break;
      case 'delay':
        // A member's own job comes back for it, or another call takes it once due.
        if (isLeader) leader = () => delayJob(run.job, run.token, after);
        break;
      case 'finished':
        anyFinished = true;
        p.deps.metrics?.instanceFinished(after.to);
        if (isLeader) leader = after.to;
        break;
      default:
        assertNever(after, 'recorded answer');
    }
  }
  if (anyFinished) await afterFinal(p, run);
  // The replay of a call the leader's attempt was in resolves it too; a leader not among the members (settled
  // otherwise while the call was replayed) ends as a duplicate would.
  return typeof leader === 'function' ? leader() : leader;
}
