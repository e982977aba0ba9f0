import { createAttemptWriter } from '@fleet/db';
import { assertNever } from '@fleet/errors';
import { createCallAdmission } from '@fleet/limits';
import type { InstallJob } from '@fleet/queue';
import { decideJobStart } from '@fleet/rollout-domain';
import { accountOf } from './account-of.ts';
import { admitCall } from './admit-call.ts';
import { afterFinal, createCompletionChecks } from './after-final.ts';
import type { Answered, ClaimWithoutCall } from './install-call.ts';
import { runInstallCall } from './install-batch-call.ts';
import { claimAndCall, startOf } from './install-call.ts';
import type { InstallJobOutcome, InstallProcessorDeps, JobRun, Processor } from './install-job-run.ts';
import { delayJob } from './install-job-run.ts';
import { settleAnswer } from './record-answer.ts';
import { skipIfAgentRuns } from './skip-installed.ts';
import { createStatusChecks } from './status-checks.ts';

/**
 * Runs one install job: wait for the account's rate and a global slot, claim an attempt in Postgres, call
 * NodeInstall, record the answer and move the instance, then let the rollout react (next wave, abort, complete).
 * Retries of transient failures are scheduled here (the job is delayed, freeing its concurrency slot) so the
 * retry count is the attempt count in Postgres, not BullMQ's, which stalls and restarts would skew. What to do at
 * each step is decided by the pure functions of @fleet/rollout-domain (attempt-decision.ts); this module and the
 * ones it calls do it: the call (install-call.ts), recording its answer (record-answer.ts), and the rollout's
 * reaction to a final instance (after-final.ts).
 */
export function createInstallProcessor(
  deps: InstallProcessorDeps,
): (job: InstallJob, token?: string, signal?: AbortSignal) => Promise<InstallJobOutcome> {
  const processor: Processor = {
    deps,
    now: deps.now ?? (() => new Date()),
    scheduleNow: deps.scheduleNow ?? deps.now ?? (() => new Date()),
    random: deps.random ?? Math.random,
    sleep: deps.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms))),
    attempts: deps.attempts ?? createAttemptWriter(deps.db),
    admission: deps.admission ?? createCallAdmission({ rate: deps.accountRate, global: deps.globalConcurrency }),
    statusChecks:
      deps.statusChecks ??
      createStatusChecks({
        cmsFor: async (userId) => (await deps.accounts.current(userId)).cms,
        accountRate: deps.accountRate,
      }),
    lastAbortCheck: new Map(),
    completionChecks: createCompletionChecks(deps),
  };
  // Three parameters: BullMQ passes the abort signal only to a processor that declares it.
  return (job, token, signal) => processInstallJob(processor, job, token, signal);
}

/** A job of a rollout paused because its account cannot be called looks again after this long, in ms. */
const ACCOUNT_PAUSE_RECHECK_MS = 1000;

async function processInstallJob(
  p: Processor,
  job: InstallJob,
  token?: string,
  signal?: AbortSignal,
): Promise<InstallJobOutcome> {
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
    case 'admit': {
      const account = await accountOf(p.deps, start.rollout, log);
      if (account === null)
        return delayJob(job, token, { kind: 'delay', ms: ACCOUNT_PAUSE_RECHECK_MS, why: 'deferred' });
      const run: JobRun = {
        job,
        token,
        rolloutInstanceId: BigInt(job.data.rolloutInstanceId),
        instanceId,
        rollout: start.rollout,
        account,
        log,
        signal,
      };
      if (await skipIfAgentRuns(p, run)) return 'skipped';
      // InstallMonitoringAgent names up to 10 instances per call (install-batch-call.ts); NodeInstall one.
      return start.rollout.policy.driver === 'install-monitoring-agent' ? runInstallCall(p, run) : admitAndRun(p, run);
    }
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
  const admission = await admitCall(p, run);
  if (typeof admission === 'string') return admission;
  let next: ClaimWithoutCall | Answered;
  try {
    next = await claimAndCall(p, run, await startOf(p, run, admission));
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
