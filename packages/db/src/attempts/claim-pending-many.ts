import type { Database } from '../client.ts';
import { INSTALL_PATH_STATEMENTS } from './statements.ts';
import type { ClaimInput, ClaimResult } from './types.ts';

/**
 * The common case, for many claims in one statement (one round trip, one commit): a `pending` instance of a
 * `running` rollout whose in-progress time has not run out. For exactly those inputs the state machine's decision is
 * `pending -> in_progress` (decideInstance, 'claim'), so the statement's WHERE clause is that decision's guard.
 * Anything else (a stale in-flight attempt, a paused or cancelled rollout, a timeout) answers null and must take the
 * general path, which asks the state machine. An instance named twice answers null the second time (the general
 * path then sees the first claim), so one statement never claims an instance twice.
 */
export async function claimPendingMany(
  db: Database,
  inputs: (ClaimInput & { now: Date })[],
): Promise<(ClaimResult | null)[]> {
  const plan = planClaims(inputs);
  if (!plan.values) return plan.settle([]);
  const { rows } = await db.installPath.query<ClaimedRow>({
    name: INSTALL_PATH_STATEMENTS.claims.name,
    text: INSTALL_PATH_STATEMENTS.claims.text,
    values: plan.values,
  });
  return plan.settle(rows);
}

export type ClaimedRow = { id: string; rollout_instance_id: string; attempt_no: number };

/** The statement parameters of a batch of claims (null: nothing to send), and how to read its rows back per input. */
export function planClaims(inputs: (ClaimInput & { now: Date })[]): {
  values: unknown[] | null;
  settle(rows: ClaimedRow[]): (ClaimResult | null)[];
} {
  const seen = new Set<bigint>();
  const batch = inputs.filter((input) => !seen.has(input.rolloutInstanceId) && seen.add(input.rolloutInstanceId));
  return {
    values:
      batch.length === 0
        ? null
        : [
            batch.map((i) => String(i.rolloutInstanceId)),
            batch.map((i) => i.workerId),
            batch.map((i) => i.instanceTimeoutMs ?? null),
            batch.map((i) => i.now),
            batch.map((i) => i.signatureNonce ?? null),
            batch.map((i) => i.windowNow ?? i.now),
            batch.map((i) => (i.credentialsId == null ? null : String(i.credentialsId))),
          ],
    settle(rows) {
      const claimed = new Map(rows.map((row) => [BigInt(row.rollout_instance_id), row]));
      return inputs.map((input) => {
        const row = claimed.get(input.rolloutInstanceId);
        if (!row) return null;
        claimed.delete(input.rolloutInstanceId);
        const nonce = input.signatureNonce;
        return {
          kind: 'claimed',
          attemptId: BigInt(row.id),
          attemptNo: row.attempt_no,
          abandonedAttemptNo: null,
          signing: nonce === undefined ? null : { nonce, timestamp: input.now },
        };
      });
    },
  };
}
