import type { Database } from '../client.ts';

/**
 * The replay of an attempt's exact request was refused with `SignatureNonceUsed`: the first copy reached
 * CloudMonitor, and its answer died with its worker. The attempt is closed as `abandoned` (kind `answer_lost`, so a
 * report can tell it from an attempt whose call may never have been made) and the next claim starts attempt N+1.
 * Guarded: only an attempt still unfinished is closed; false when something else recorded it first.
 */
export async function markAttemptAnswerLost(
  db: Database,
  input: { attemptId: bigint; at: Date; replayRequestId: string | null },
): Promise<boolean> {
  const message =
    'the call reached CloudMonitor but its worker stopped before recording the answer ' +
    `(a replay of the same request was refused with SignatureNonceUsed${input.replayRequestId ? `, RequestId ${input.replayRequestId}` : ''})`;
  const changed = await db.prisma.$executeRaw`
    UPDATE install_attempt SET outcome = 'abandoned', outcome_kind = 'answer_lost', finished_at = ${input.at}, error_message = ${message}
    WHERE id = ${input.attemptId} AND finished_at IS NULL`;
  return changed === 1;
}
