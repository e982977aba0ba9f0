/**
 * The install-monitoring-agent driver's steps that differ from NodeInstall's (attempt-decision.ts has the rest): one
 * InstallMonitoringAgent call names up to 10 instances of a rollout, claimed together by the job of one of them.
 *
 *   peek    before asking the limits (a call's rate token and global slot): instance final -> skip;  in a call still
 *           in flight (another job's batch, or a live replay) -> delay until that call must have ended;  pending but
 *           its retry not due -> delay until due;  every instance the rollout's concurrency allows in flight -> delay
 *           a little;  else -> admit
 *   claim   as a NodeInstall claim, plus: the rollout's concurrency is used up -> delay a little;  the retry is not
 *           due -> delay until due
 * Pure: the facts and `now` / `random` come in as values.
 */
import { assertNever } from '@fleet/errors';
import type { ClaimDecision, ClaimFacts, JobDelay } from './attempt-decision.ts';
import {
  BUSY_RECHECK_JITTER_MS,
  decideClaim,
  SLOT_RECHECK_JITTER_MS,
  SLOT_RECHECK_MIN_MS,
} from './attempt-decision.ts';
import type { InstanceState } from './states.ts';

/** InstallMonitoringAgent takes 1 to 10 instances per call. */
export const INSTALL_CALL_MAX_INSTANCES = 10;

/** What the job's look at its instance found (@fleet/db InstallCallPeek); null: no such instance. */
export type CallPeekFacts = {
  state: InstanceState;
  nextAttemptAt: Date | null;
  /** When the current attempt's call (or its latest replay) began, if it is unfinished. */
  inFlightSince: Date | null;
  /** The rollout's instances in progress, and its concurrency (in instances). */
  inProgress: number;
  concurrency: number;
};

export type CallPeekDecision = { kind: 'skip'; why: 'instance_final' } | JobDelay | { kind: 'admit' };

/** A slot of the rollout's concurrency frees when a call ends: look again as a job refused a global slot does. */
function concurrencyRecheck(random: number): JobDelay {
  return { kind: 'delay', ms: SLOT_RECHECK_MIN_MS + random * SLOT_RECHECK_JITTER_MS, why: 'instance_concurrency' };
}

export function decideCallPeek(
  peek: CallPeekFacts | null,
  { now, random, staleAfterMs }: { now: Date; random: number; staleAfterMs: number },
): CallPeekDecision {
  if (!peek) return { kind: 'skip', why: 'instance_final' };
  switch (peek.state) {
    case 'succeeded':
    case 'failed':
    case 'cancelled':
    case 'skipped':
      return { kind: 'skip', why: 'instance_final' };
    case 'in_progress': {
      if (peek.inFlightSince === null) return { kind: 'admit' };
      const staleAt = peek.inFlightSince.getTime() + staleAfterMs;
      // In a call of its own or of another instance's job: that call records it, or goes stale and is replayed.
      if (staleAt > now.getTime())
        return {
          kind: 'delay',
          ms: staleAt - now.getTime() + random * BUSY_RECHECK_JITTER_MS,
          why: 'call_in_flight',
        };
      return { kind: 'admit' };
    }
    case 'pending':
      if (peek.nextAttemptAt !== null && peek.nextAttemptAt.getTime() > now.getTime())
        return { kind: 'delay', ms: peek.nextAttemptAt.getTime() - now.getTime(), why: 'retry_backoff' };
      if (peek.inProgress >= peek.concurrency) return concurrencyRecheck(random);
      return { kind: 'admit' };
    default:
      return assertNever(peek.state, 'instance state');
  }
}

/** What the call's claim came to (@fleet/db InstallCallClaim): a NodeInstall claim's facts, and two of its own. */
export type CallClaimFacts = ClaimFacts | { kind: 'full' } | { kind: 'not_due'; at: Date };

export function decideCallClaim<C extends CallClaimFacts>(
  claim: C,
  { now, random }: { now: Date; random: number },
): ClaimDecision<Exclude<C, { kind: 'full' | 'not_due' }>> {
  const facts: CallClaimFacts = claim;
  switch (facts.kind) {
    case 'full':
      return { ...concurrencyRecheck(random), refreshRollout: false };
    case 'not_due':
      return {
        kind: 'delay',
        ms: facts.at.getTime() - now.getTime(),
        why: 'retry_backoff',
        refreshRollout: false,
      };
    default:
      return decideClaim(claim as Exclude<C, { kind: 'full' | 'not_due' }>, { now, random });
  }
}
