import { checkRolloutDone } from '@fleet/db';
import { abortIfThresholdCrossed, advanceWaves } from '@fleet/rollout-control';
import type { CompletionChecks, InstallProcessorDeps, JobRun, Processor } from './install-job-run.ts';
import { persistThroughOutage } from './persist-through-outage.ts';
import { createTrailingChecks } from './trailing-checks.ts';

/** A rollout's abort threshold is evaluated at most this often per process, in ms. */
const ABORT_CHECK_INTERVAL_MS = 250;
/** "Is the rollout done?" is asked at most this often per rollout per process, in ms (see createCompletionChecks). */
const COMPLETION_CHECK_INTERVAL_MS = 50;
/** Longest a check that found instances open holds the next one back, ms (see completionHoldMs). */
const COMPLETION_HOLD_MAX_MS = 1000;

/**
 * How long a check that found `open` instances still open may hold the next one back: half the time those need at
 * the account's rate (its calls are what finishes them, fleet-wide), at most a second. A rollout far from done is
 * then asked a few times a second instead of after nearly every instance; one whose open instances end faster than
 * calls (skipped, timed out) is seen completed at most a second late.
 */
export function completionHoldMs(open: number, maxRatePerSecond: number): number {
  if (open <= 0 || maxRatePerSecond <= 0) return 0;
  return Math.min(COMPLETION_HOLD_MAX_MS, (open * 1000) / maxRatePerSecond / 2);
}

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
    p.completionChecks.request(rollout);
  }
}

/**
 * "Is the rollout done?" after final transitions, without one query per instance. Every request is answered by a
 * check that starts after it was made (so after the transition that asked committed: of two workers recording the
 * last two instances at once, the later committer's check sees both). The job does not wait for it: completing the
 * rollout is bookkeeping, not part of recording the attempt, and should this process die first, the reconciler
 * completes rollouts whose instances are all final.
 */
export function createCompletionChecks(deps: InstallProcessorDeps): CompletionChecks {
  /** rollout id -> its account, for the account's rate (kept while the rollout's checks are). */
  const accountOf = new Map<string, string>();
  const checks = createTrailingChecks(
    async (rolloutId) => {
      const { open, holdMs } = await completeIfDone(deps, rolloutId, accountOf.get(rolloutId));
      if (open === 0) accountOf.delete(rolloutId);
      return holdMs;
    },
    COMPLETION_CHECK_INTERVAL_MS,
    (rolloutId, error) =>
      deps.logger.warn('checking whether the rollout is done failed; the reconciler will', { rolloutId, error }),
  );
  return {
    request(rollout) {
      accountOf.set(rollout.id, rollout.userId);
      checks.request(rollout.id);
    },
  };
}

/** Completes the rollout if it is done; else answers how long the next check may wait (completionHoldMs). */
async function completeIfDone(
  deps: InstallProcessorDeps,
  rolloutId: string,
  userId?: string,
): Promise<{ open: number; holdMs: number }> {
  const { completed, open } = await persistThroughOutage(
    'completing the rollout',
    deps.logger.child({ rolloutId }),
    () => checkRolloutDone(deps.db, rolloutId, deps.control.by),
  );
  if (completed) {
    deps.rollouts.invalidate(rolloutId);
    deps.logger.info('rollout completed', { rolloutId });
  }
  const rate = userId === undefined ? 0 : deps.accountRate.schedule.limitsOf(userId).maxRatePerSecond;
  return { open, holdMs: completionHoldMs(open, rate) };
}
