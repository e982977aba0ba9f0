import type { Database } from '../client.ts';
import type { GroupCommitOptions } from '../group-commit.ts';
import { createGroupCommit } from '../group-commit.ts';
import { claimAttemptLocked } from './claim-locked.ts';
import { retryConflicts } from './conflict-retry.ts';
import { settleFinish } from './finish-locked.ts';
import type { ClaimInput, ClaimResult, FastFinish, FinishInput, FinishResult } from './types.ts';
import { writeAttemptsMany } from './write-attempts-many.ts';

export type AttemptWriter = {
  /** Same contract as claimAttempt; the common case is group-committed with the writes of concurrent jobs. */
  claim(input: ClaimInput): Promise<ClaimResult>;
  /** Same contract as finishAttempt; the common case is group-committed with the writes of concurrent jobs. */
  finish(input: FinishInput): Promise<FinishResult>;
};

/**
 * The install path's writes with group commit: the claims and answers of concurrent jobs in this process go to
 * Postgres together, one statement per batch (claims and answers in the same one), and each caller gets its own
 * result once that statement committed.
 * An attempt row is still written before its call is made, and an answer is still durable before its job is
 * acknowledged; only the number of commits shrinks. Each write that the one-statement path does not settle takes
 * the same general path as claimAttempt / finishAttempt, on its own.
 */
export function createAttemptWriter(db: Database, options: GroupCommitOptions = {}): AttemptWriter {
  type Write = { kind: 'claim'; input: ClaimInput & { now: Date } } | { kind: 'finish'; input: FinishInput };
  const writes = createGroupCommit(async (batch: Write[]): Promise<(ClaimResult | FastFinish | null)[]> => {
    const claims = batch.flatMap((w) => (w.kind === 'claim' ? [w.input] : []));
    const finishes = batch.flatMap((w) => (w.kind === 'finish' ? [w.input] : []));
    const results = await retryConflicts(() => writeAttemptsMany(db, claims, finishes));
    let c = 0;
    let f = 0;
    return batch.map((w) => (w.kind === 'claim' ? results.claims[c++]! : results.finishes[f++]!));
  }, options);
  return {
    async claim(input) {
      const now = input.now ?? new Date();
      const fast = (await writes.submit({ kind: 'claim', input: { ...input, now } })) as ClaimResult | null;
      return fast ?? claimAttemptLocked(db, input, now);
    },
    async finish(input) {
      return settleFinish(db, input, (await writes.submit({ kind: 'finish', input })) as FastFinish);
    },
  };
}
