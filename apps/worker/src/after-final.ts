import { completeRolloutIfDone } from '@fleet/db';
import { abortIfThresholdCrossed, advanceWaves } from '@fleet/rollout-control';
import type { InstallProcessorDeps, JobRun, Processor } from './install-job-run.ts';
import { persistThroughOutage } from './persist-through-outage.ts';
import { createTrailingChecks } from './trailing-checks.ts';
import type { TrailingChecks } from './trailing-checks.ts';

/** A rollout's abort threshold is evaluated at most this often per process, in ms. */
const ABORT_CHECK_INTERVAL_MS = 250;
/** "Is the rollout done?" is asked at most this often per rollout per process, in ms (see createCompletionChecks). */
const COMPLETION_CHECK_INTERVAL_MS = 50;

/** After an instance reached a final state: abort check, next wave, completion. */
export async function afterFinal(p: Processor, run: JobRun): Promise<void> {
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
 * "Is the rollout done?" after final transitions, without one query per instance. Every request is answered by a
 * check that starts after it was made (so after the transition that asked committed: of two workers recording the
 * last two instances at once, the later committer's check sees both). The job does not wait for it: completing the
 * rollout is bookkeeping, not part of recording the attempt, and should this process die first, the reconciler
 * completes rollouts whose instances are all final.
 */
export function createCompletionChecks(deps: InstallProcessorDeps): TrailingChecks {
  return createTrailingChecks(
    (rolloutId) => completeIfDone(deps, rolloutId),
    COMPLETION_CHECK_INTERVAL_MS,
    (rolloutId, error) =>
      deps.logger.warn('checking whether the rollout is done failed; the reconciler will', { rolloutId, error }),
  );
}

async function completeIfDone(deps: InstallProcessorDeps, rolloutId: string): Promise<void> {
  const completed = await persistThroughOutage('completing the rollout', deps.logger.child({ rolloutId }), () =>
    completeRolloutIfDone(deps.db, rolloutId, deps.control.by),
  );
  if (completed) {
    deps.rollouts.invalidate(rolloutId);
    deps.logger.info('rollout completed', { rolloutId });
  }
}
