import { decideInstance } from '@fleet/rollout-domain';
import type { Database } from '../client.ts';
import { finishFacts } from './finish-facts.ts';
import { manualInstallReasonAfter } from './manual-install-reason.ts';
import { INSTALL_PATH_STATEMENTS } from './statements.ts';
import type { FastFinish, FinishInput } from './types.ts';

/**
 * The common case, for many answers in one statement (one round trip, one commit): the instance is in_progress on
 * this very attempt, its rollout is running and its time has not run out. The state machine's decision for exactly
 * those inputs is computed here and written with those inputs as the guard; where any does not hold the answer is
 * still recorded and `recorded` tells the caller to decide from what is there. Inputs whose decision is not a
 * transition, and a second answer for the same instance or attempt, answer `general`.
 */
export async function finishInProgressMany(db: Database, inputs: FinishInput[]): Promise<FastFinish[]> {
  const plan = planFinishes(inputs);
  if (!plan.values) return plan.settle([]);
  const { rows } = await db.installPath.query<FinishRow>({
    name: INSTALL_PATH_STATEMENTS.answers.name,
    text: INSTALL_PATH_STATEMENTS.answers.text,
    values: plan.values,
  });
  return plan.settle(rows);
}

export type FinishRow = { attempt_id: string; recorded: boolean; moved: boolean };

/** The statement parameters of a batch of answers (null: nothing to send), and how to read its rows back per input. */
export function planFinishes(inputs: FinishInput[]): {
  values: unknown[] | null;
  settle(rows: FinishRow[]): FastFinish[];
} {
  const plans = inputs.map((input) => {
    const { verdict } = finishFacts(input);
    const expected = decideInstance('in_progress', {
      type: 'attempt_finished',
      outcome: verdict,
      attemptNo: input.attemptNo,
      maxAttempts: input.maxAttempts,
      rolloutStatus: 'running',
      timedOut: false,
    });
    return expected.type === 'transition'
      ? { input, to: expected.to, cause: expected.cause, reason: expected.reason }
      : null;
  });
  const instances = new Set<bigint>();
  const attempts = new Set<bigint>();
  const batch = plans.filter((plan): plan is NonNullable<typeof plan> => {
    if (!plan || instances.has(plan.input.rolloutInstanceId) || attempts.has(plan.input.attemptId)) return false;
    instances.add(plan.input.rolloutInstanceId);
    attempts.add(plan.input.attemptId);
    return true;
  });
  const col = <T>(pick: (plan: (typeof batch)[number]) => T) => batch.map(pick);
  return {
    values:
      batch.length === 0
        ? null
        : [
            col((p) => String(p.input.rolloutInstanceId)),
            col((p) => String(p.input.attemptId)),
            col((p) => p.input.attemptNo),
            col((p) => p.to),
            col((p) => p.input.answer.finishedAt),
            col((p) => p.input.answer.durationMs),
            col((p) => p.input.answer.httpStatus),
            col((p) => p.input.answer.success),
            col((p) => p.input.answer.errorCode),
            col((p) => p.input.answer.errorMessage),
            col((p) => p.input.answer.requestId),
            col((p) => p.input.answer.outcome),
            col((p) => p.input.answer.outcomeKind),
            col((p) => (p.to === 'pending' ? p.input.nextAttemptAt : null)),
            col((p) => manualInstallReasonAfter(p.cause, p.input.manualInstallReason ?? null)),
            col((p) => p.input.instanceTimeoutMs ?? null),
            col((p) => finishFacts(p.input).decidedAt),
            col((p) => p.input.answer.sentAt ?? null),
          ],
    settle(rows) {
      const byAttempt = new Map(rows.map((row) => [BigInt(row.attempt_id), row]));
      const planned = new Map(batch.map((plan) => [plan.input.attemptId, plan]));
      return inputs.map((input): FastFinish => {
        const plan = planned.get(input.attemptId);
        if (!plan || plan.input !== input) return 'general';
        const row = byAttempt.get(input.attemptId);
        if (!row || !row.recorded) return { kind: 'duplicate' };
        return row.moved ? { kind: 'transitioned', to: plan.to, cause: plan.cause, reason: plan.reason } : 'recorded';
      });
    },
  };
}
