import { attemptOutcomeClass } from '@fleet/cms-client';
import { needsStatusCheck, recordStatusCheck } from '@fleet/db';
import { decideAgentPrecheck } from '@fleet/rollout-domain';
import { afterFinal } from './after-final.ts';
import type { JobRun, Processor } from './install-job-run.ts';
import { persistThroughOutage } from './persist-through-outage.ts';

/**
 * skipInstalled: before an instance's first install call, ask CloudMonitor whether its agent already runs, with the
 * status call of the rollout's driver (batched with the other jobs' checks, see status-checks.ts); if it does, the
 * instance ends `skipped` and no install call names it. The check is recorded like an attempt (kind status_check)
 * with its RequestId. Before the limits: a status call takes no global slot, only its place on the account's rate
 * schedule. True when the instance was skipped.
 */
export async function skipIfAgentRuns(p: Processor, run: JobRun): Promise<boolean> {
  if (!run.rollout.policy.skipInstalled) return false;
  const needed = await persistThroughOutage('reading whether the instance wants a status check', run.log, () =>
    needsStatusCheck(p.deps.db, run.rolloutInstanceId),
  );
  if (!needed) return false;
  const startedAt = p.now();
  const answer = await p.statusChecks
    .check(run.rollout.userId, run.rollout.policy.driver, run.instanceId)
    .catch((error: unknown) => {
      // No answer at all (the client closed, a programmer error): install as without skipInstalled.
      run.log.warn('status check before the first install call failed; installing', { error });
      return null;
    });
  if (!answer) return false;
  const { call, status } = answer;
  const verdict = decideAgentPrecheck({ answered: call.outcome.kind === 'success', status });
  const recorded = await persistThroughOutage('recording a status check', run.log, () =>
    recordStatusCheck(p.deps.db, {
      rolloutInstanceId: run.rolloutInstanceId,
      rolloutId: run.rollout.id,
      workerId: p.deps.workerId,
      startedAt,
      answer: {
        finishedAt: call.finishedAt,
        durationMs: Math.round(call.durationMs),
        httpStatus: call.httpStatus,
        success: call.success,
        errorCode: call.errorCode,
        errorMessage: call.errorMessage,
        requestId: call.requestId,
        outcome: attemptOutcomeClass(call.outcome),
        outcomeKind: call.outcome.kind,
      },
      agentStatus: status,
      agentRunning: verdict === 'skip',
    }),
  );
  if (recorded.kind !== 'skipped') return false;
  run.log.info('agent already running: skipped without an install call', { requestId: call.requestId });
  p.deps.metrics?.instanceFinished('skipped');
  await afterFinal(p, run);
  return true;
}
