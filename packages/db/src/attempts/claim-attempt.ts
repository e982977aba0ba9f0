import type { Database } from '../client.ts';
import { claimAttemptLocked } from './claim-locked.ts';
import { claimPendingMany } from './claim-pending-many.ts';
import type { ClaimInput, ClaimResult } from './types.ts';

/**
 * Starts attempt N+1 of an instance: writes the attempt row (started, unfinished, with the nonce and timestamp its
 * request will be signed with) before the HTTP call is made, so that a call whose worker dies still leaves its row.
 * An unfinished attempt whose call (or latest replay) began more than `staleAfterMs` ago belongs to a dead worker:
 * if it was signed within REPLAY_WINDOW_MS the claim answers `replay` (send the same request again, see
 * ClaimResult); otherwise it is marked `abandoned` and a new attempt begins.
 */
export async function claimAttempt(db: Database, input: ClaimInput): Promise<ClaimResult> {
  const now = input.now ?? new Date();
  const [fast] = await claimPendingMany(db, [{ ...input, now }]);
  return fast ?? claimAttemptLocked(db, input, now);
}
