import type { Database } from '../client.ts';
import { claimPendingMany, planClaims } from './claim-pending-many.ts';
import { finishInProgressMany, planFinishes } from './finish-in-progress-many.ts';
import { INSTALL_PATH_STATEMENTS } from './statements.ts';
import type { ClaimInput, ClaimResult, FastFinish, FinishInput } from './types.ts';

/** One group commit's claims and answers, in one statement when it has both. */
export async function writeAttemptsMany(
  db: Database,
  claims: (ClaimInput & { now: Date })[],
  finishes: FinishInput[],
): Promise<{ claims: (ClaimResult | null)[]; finishes: FastFinish[] }> {
  const claimPlan = planClaims(claims);
  const finishPlan = planFinishes(finishes);
  if (!claimPlan.values || !finishPlan.values) {
    const [claimed, finished] = await Promise.all([
      claimPlan.values ? claimPendingMany(db, claims) : claimPlan.settle([]),
      finishPlan.values ? finishInProgressMany(db, finishes) : finishPlan.settle([]),
    ]);
    return { claims: claimed, finishes: finished };
  }
  const { rows } = await db.installPath.query<{
    kind: 'claim' | 'finish';
    key: string;
    attempt_id: string;
    attempt_no: number;
    recorded: boolean;
    moved: boolean;
  }>({
    name: INSTALL_PATH_STATEMENTS.both.name,
    text: INSTALL_PATH_STATEMENTS.both.text,
    values: [...claimPlan.values, ...finishPlan.values],
  });
  return {
    claims: claimPlan.settle(
      rows
        .filter((r) => r.kind === 'claim')
        .map((r) => ({ id: r.attempt_id, rollout_instance_id: r.key, attempt_no: r.attempt_no })),
    ),
    finishes: finishPlan.settle(
      rows
        .filter((r) => r.kind === 'finish')
        .map((r) => ({ attempt_id: r.attempt_id, recorded: r.recorded, moved: r.moved })),
    ),
  };
}
