import type { FinishInput } from './types.ts';

/** What an answer means for its instance (`verdict`), its in-progress timeout, and the moment a timeout is judged at. */
export function finishFacts(input: FinishInput) {
  const verdict = input.verdict ?? input.answer.outcome;
  return {
    verdict,
    timeoutMs: input.instanceTimeoutMs ?? null,
    decidedAt: input.nextAttemptAt ?? input.answer.finishedAt,
  };
}
