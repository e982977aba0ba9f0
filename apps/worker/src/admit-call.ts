import { assertNever } from '@fleet/errors';
import { decideAdmission, decideJobStart } from '@fleet/rollout-domain';
import type { AdmittedCall } from './install-call.ts';
import type { InstallJobOutcome, JobRun, Processor } from './install-job-run.ts';
import { delayJob } from './install-job-run.ts';

/**
 * The call's admission (both limits in one round trip, see @fleet/limits CallAdmission): admitted, with its start;
 * held in this worker while the account's schedule is further away than the admission's bound, then admitted again;
 * else a delay in the queue (which ends the job's run), or the job's end when its rollout closed while it was held.
 */
export async function admitCall(p: Processor, run: JobRun): Promise<AdmittedCall | InstallJobOutcome> {
  for (;;) {
    const admitted = await p.admission.admit(run.rollout.userId, run.rollout.id);
    const admission = decideAdmission(admitted, { random: p.random() });
    switch (admission.kind) {
      case 'claim':
      case 'retake_start':
        return admission;
      case 'delay':
        return delayJob(run.job, run.token, admission);
      case 'hold': {
        const held = await holdForStart(p, run, admission.ms);
        if (held !== 'again') return held;
        break;
      }
      default:
        return assertNever(admission, 'admission');
    }
  }
}

/**
 * Waits here, not in the queue, for the time the admission told the job to come back at (the decision's `hold`,
 * see @fleet/rollout-domain AdmissionDecision): it keeps its place in the rollout's concurrency, and the jobs behind
 * it stay in the queue untouched. Answers 'again' to admit again; a delay in the queue after all when this process
 * lets its jobs go meanwhile (shutdown: `signal`), and the job's end when its rollout was paused or closed meanwhile
 * (as at the job's start).
 */
async function holdForStart(p: Processor, run: JobRun, ms: number): Promise<'again' | InstallJobOutcome> {
  const heldUntil = p.now().getTime() + ms;
  const released = await untilAborted(p.sleep(ms), run.signal);
  if (released) {
    const left = Math.max(1, heldUntil - p.now().getTime());
    return delayJob(run.job, run.token, { kind: 'delay', ms: left, why: 'account_rate' });
  }
  const start = decideJobStart(await p.deps.rollouts.get(run.rollout.id));
  switch (start.kind) {
    case 'skip':
      return 'skipped_rollout_closed';
    case 'delay':
      return delayJob(run.job, run.token, start);
    case 'admit':
      return 'again';
    default:
      return assertNever(start, 'job start');
  }
}

/** Resolves false when `wait` does, true as soon as `signal` is aborted (at once when it already is). */
function untilAborted(wait: Promise<void>, signal: AbortSignal | undefined): Promise<boolean> {
  if (!signal) return wait.then(() => false);
  if (signal.aborted) return Promise.resolve(true);
  return new Promise((resolve) => {
    const onAbort = () => resolve(true);
    signal.addEventListener('abort', onAbort, { once: true });
    void wait.then(() => {
      signal.removeEventListener('abort', onAbort);
      resolve(false);
    });
  });
}
