import type { AttemptAnswer, Database } from '../src/index.ts';
import { insertRollout } from '../src/index.ts';

/** The fixtures of the attempt tests (attempts-*.test.ts, attempt-writer.test.ts). */

export const USER = '1234567898765432';

/** A rollout of one instance `instanceId` (concurrency 5, 3 attempts): its id and the instance's row id. */
export async function newInstance(db: Database, instanceId = 'i-abc') {
  const { rollout, instances } = await insertRollout(db, {
    userId: USER,
    force: false,
    concurrency: 5,
    maxAttempts: 3,
    policy: {},
    instanceIds: [instanceId],
  });
  return { rolloutId: rollout.id, rolloutInstanceId: instances[0]!.id };
}

/** CloudMonitor's answer of `outcome` as a worker records it, finished now, with `extra` over it. */
export function answer(outcome: AttemptAnswer['outcome'], extra: Partial<AttemptAnswer> = {}): AttemptAnswer {
  return {
    finishedAt: new Date(),
    durationMs: 5,
    httpStatus: 200,
    success: outcome === 'success',
    errorCode: outcome === 'success' ? '200' : '500',
    errorMessage: null,
    requestId: 'R-1',
    outcome,
    outcomeKind: outcome,
    ...extra,
  };
}
