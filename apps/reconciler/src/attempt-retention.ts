import type { Database } from '@fleet/db';
import { summariseOldAttempts } from '@fleet/db';
import type { Logger } from '@fleet/logger';

const DAY_MS = 86_400_000;

/**
 * The reconciler's share of attempt retention (see summariseOldAttempts in @fleet/db): each pass replaces the attempt
 * rows of at most one rollout finished more than `retentionDays` ago by its summary, so a pass stays short however
 * much history is due; the next passes take the rest. `retentionDays` 0 keeps every attempt forever.
 */
export async function pruneOldAttempts(deps: {
  db: Database;
  logger: Logger;
  retentionDays: number;
  now: () => Date;
}): Promise<number> {
  if (deps.retentionDays === 0) return 0;
  try {
    const finishedBefore = new Date(deps.now().getTime() - deps.retentionDays * DAY_MS);
    const result = await summariseOldAttempts(deps.db, { finishedBefore, maxRollouts: 1 });
    if (result.rollouts > 0)
      deps.logger.info('replaced old attempt rows by their summary', {
        rollouts: result.rollouts,
        attemptsDeleted: result.attemptsDeleted,
        retentionDays: deps.retentionDays,
      });
    return result.rollouts;
  } catch (error) {
    deps.logger.warn('summarising old attempts failed; will retry next pass', { error });
    return 0;
  }
}
