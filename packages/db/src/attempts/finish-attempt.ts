import type { Database } from '../client.ts';
import { finishInProgressMany } from './finish-in-progress-many.ts';
import { settleFinish } from './finish-locked.ts';
import type { FinishInput, FinishResult } from './types.ts';

/**
 * Records a call's answer on its attempt row and moves the instance, in one transaction. A real answer replaces
 * an `abandoned` presumption; it never replaces another real answer.
 */
export async function finishAttempt(db: Database, input: FinishInput): Promise<FinishResult> {
  const [fast] = await finishInProgressMany(db, [input]);
  return settleFinish(db, input, fast!);
}
