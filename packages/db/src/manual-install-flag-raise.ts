import { FleetError } from '@fleet/errors';
import type { EventSource, ManualFlagStatus, NewFleetEvent } from '@fleet/rollout-domain';
import { decideManualFlag } from '@fleet/rollout-domain';
import { recordEvents } from './events/record-events.ts';
import type { Prisma } from './generated/prisma/client.ts';

/**
 * Raising manual-install flags, one per host (account UserId + instance id): a rollout instance that needs a manual
 * install gets its host's current flag (the one not closed), carried over from an earlier rollout, or a new one.
 * The rules are the flag state machine's (@fleet/rollout-domain manual-install-flag.ts); the database holds them with
 * the unique index manual_install_flag_open_per_host_key on (user_id, instance_id) WHERE status <> 'closed', and
 * records each rollout instance a flag was raised for in manual_install_flag_occurrence (keyed by the rollout
 * instance, so a rollout instance gets a flag once).
 */

/** The reconciler's name in flag histories. */
export const RECONCILER_ACTOR = 'reconciler';

/** The reconciler as the actor of events, where the caller does not name the process. */
export const RECONCILER_SOURCE: EventSource = { actor: { kind: 'reconciler', id: RECONCILER_ACTOR } };

/**
 * Rounds of "lock the hosts' current flags, carry or insert" before a need is left to the next sweep. A round leaves
 * a need over only when another transaction raised the host's flag meanwhile (its insert won the unique index; the
 * next round carries onto it) or when two needs of one batch share a host (the second goes in the next round).
 */
const MAX_ROUNDS = 4;

/** A rollout instance that needs a manual install, with what its flag and history entry should say. */
export type FlagNeed = {
  rolloutInstanceId: bigint;
  rolloutId: string;
  userId: string;
  instanceId: string;
  /** Category (ManualInstallReason or a verification failure reason). */
  reason: string;
  detail: string | null;
  lastRequestId: string | null;
  /** Written into the history entry, beside the rollout, its instance row and attempt count. */
  history: { source: 'install' | 'verification' } & Record<string, unknown>;
  attemptCount: number;
  /** The rollout this instance's rollout retries, if it is a retry. */
  parentRolloutId: string | null;
};

/** What raising did for one rollout instance: a new flag, or the host's current flag kept (and reopened if resolved). */
export type FlagRaise = { rolloutInstanceId: bigint; flagId: bigint; action: 'flagged' | 'reflagged' | 'reopened' };

export type FlagRaiseCounts = { flagged: number; reflagged: number; reopened: number };

export function countFlagRaises(raises: readonly FlagRaise[]): FlagRaiseCounts {
  const counts: FlagRaiseCounts = { flagged: 0, reflagged: 0, reopened: 0 };
  for (const raise of raises) counts[raise.action]++;
  return counts;
}

const hostKey = (need: { userId: string; instanceId: string }) => `${need.userId}\u0000${need.instanceId}`;

function historyOf(need: FlagNeed): string {
  return JSON.stringify({
    ...need.history,
    reason: need.reason,
    detail: need.detail,
    lastRequestId: need.lastRequestId,
    rolloutId: need.rolloutId,
    rolloutInstanceId: need.rolloutInstanceId.toString(),
    attemptCount: need.attemptCount,
    parentRolloutId: need.parentRolloutId,
  });
}

/**
 * Gives every need its host's flag, in `tx`, a few statements for the whole batch. The caller must hold the needs'
 * rollout_instance rows locked (FOR UPDATE, or an UPDATE in the same transaction) and have seen no occurrence for any
 * of them since: then no other transaction raises for the same rollout instance, and the occurrence insert cannot
 * collide. Hosts are serialised by row locks on their current flags (taken in id order) and, for a host without
 * one, by the unique index (an insert that loses waits for the winner and leaves the need to the next round).
 * Returns what was done per need; a need still left after MAX_ROUNDS gets nothing (the reconciler's sweep,
 * raiseMissingManualInstallFlags, raises it on a later pass). Writes the events of every round at the end
 * (instance.flagged, flag.reopened), so it must be the transaction's last write: the events' lock is held until
 * commit, and a row lock taken after it could deadlock with a transaction that holds the row and waits for the lock.
 */
export async function raiseFlagsForHosts(
  tx: Prisma.TransactionClient,
  needs: readonly FlagNeed[],
  now: Date,
  by: EventSource = RECONCILER_SOURCE,
): Promise<FlagRaise[]> {
  const raised: FlagRaise[] = [];
  let pending = [...needs];
  for (let round = 0; round < MAX_ROUNDS && pending.length > 0; round++) {
    const seen = new Set<string>();
    const batch: FlagNeed[] = [];
    const later: FlagNeed[] = [];
    for (const need of pending) {
      if (seen.has(hostKey(need))) later.push(need);
      else {
        seen.add(hostKey(need));
        batch.push(need);
      }
    }
    const done = await raiseRound(tx, batch, now);
    raised.push(...done);
    const doneIds = new Set(done.map((r) => r.rolloutInstanceId));
    pending = [...batch.filter((need) => !doneIds.has(need.rolloutInstanceId)), ...later];
  }
  const needOf = new Map(needs.map((n) => [n.rolloutInstanceId, n]));
  await recordEvents(
    tx,
    by,
    raised.map((raise) => raiseEvent(raise, needOf.get(raise.rolloutInstanceId)!)),
  );
  return raised;
}

function raiseEvent(raise: FlagRaise, need: FlagNeed): NewFleetEvent {
  const about = { rolloutId: need.rolloutId, userId: need.userId };
  const facts = { flagId: raise.flagId.toString(), instanceId: need.instanceId, reason: need.reason };
  return raise.action === 'reopened'
    ? { ...about, type: 'flag.reopened', data: facts }
    : { ...about, type: 'instance.flagged', data: { ...facts, action: raise.action } };
}

/** One round over needs of distinct hosts. */
async function raiseRound(tx: Prisma.TransactionClient, needs: readonly FlagNeed[], now: Date): Promise<FlagRaise[]> {
  const current = await tx.$queryRaw<{ id: bigint; user_id: string; instance_id: string; status: ManualFlagStatus }[]>`
    SELECT f.id, f.user_id, f.instance_id, f.status::text AS status
    FROM manual_install_flag f
    JOIN unnest(${needs.map((n) => n.userId)}::text[], ${needs.map((n) => n.instanceId)}::text[]) AS h(user_id, instance_id)
      ON f.user_id = h.user_id AND f.instance_id = h.instance_id
    WHERE f.status <> 'closed'
    ORDER BY f.id
    FOR UPDATE OF f`;
  const currentByHost = new Map(current.map((f) => [hostKey({ userId: f.user_id, instanceId: f.instance_id }), f]));

  const carries: { need: FlagNeed; flagId: bigint; from: ManualFlagStatus; to: ManualFlagStatus; action: string }[] =
    [];
  const fresh: FlagNeed[] = [];
  for (const need of needs) {
    const flag = currentByHost.get(hostKey(need));
    if (!flag) {
      fresh.push(need);
      continue;
    }
    const decision = decideManualFlag(flag.status, { type: 'needed_again' });
    if (decision.type !== 'transition')
      throw new FleetError(
        'flag_not_current',
        `manual-install flag ${flag.id} is ${flag.status}, which the per-host unique index does not cover`,
      );
    carries.push({ need, flagId: flag.id, from: decision.from, to: decision.to, action: decision.action });
  }

  const raised: FlagRaise[] = [];
  if (carries.length > 0) {
    // Guarded on the status read under the lock: it cannot have moved, and a row that did is simply not carried.
    const carried = await tx.$queryRaw<{ id: bigint }[]>`
      UPDATE manual_install_flag f SET
        status = c.to_status::"ManualFlagStatus", rollout_id = c.rollout_id::uuid, rollout_instance_id = c.rollout_instance_id,
        reason = c.reason, detail = c.detail, last_request_id = c.last_request_id, updated_at = ${now}
      FROM unnest(${carries.map((c) => c.flagId)}::bigint[], ${carries.map((c) => c.from)}::text[],
                  ${carries.map((c) => c.to)}::text[], ${carries.map((c) => c.need.rolloutId)}::text[],
                  ${carries.map((c) => c.need.rolloutInstanceId)}::bigint[], ${carries.map((c) => c.need.reason)}::text[],
                  ${carries.map((c) => c.need.detail)}::text[], ${carries.map((c) => c.need.lastRequestId)}::text[])
        AS c(id, from_status, to_status, rollout_id, rollout_instance_id, reason, detail, last_request_id)
      WHERE f.id = c.id AND f.status::text = c.from_status
      RETURNING f.id`;
    const carriedIds = new Set(carried.map((r) => r.id));
    for (const c of carries)
      if (carriedIds.has(c.flagId))
        raised.push({
          rolloutInstanceId: c.need.rolloutInstanceId,
          flagId: c.flagId,
          action: c.action as FlagRaise['action'],
        });
  }
  if (fresh.length > 0) {
    // A host whose flag another transaction is inserting: this insert waits for it, then does nothing; the next
    // round finds that flag under its lock and carries onto it. Hosts go in in one order (that of their key) in
    // every transaction, so two inserting the same hosts wait for each other one way only.
    fresh.sort((a, b) => (hostKey(a) < hostKey(b) ? -1 : hostKey(a) > hostKey(b) ? 1 : 0));
    const inserted = await tx.$queryRaw<{ id: bigint; rollout_instance_id: bigint }[]>`
      INSERT INTO manual_install_flag (rollout_instance_id, rollout_id, user_id, instance_id, reason, detail, last_request_id, created_at, updated_at)
      SELECT n.rollout_instance_id, n.rollout_id::uuid, n.user_id, n.instance_id, n.reason, n.detail, n.last_request_id, ${now}, ${now}
      FROM unnest(${fresh.map((n) => n.rolloutInstanceId)}::bigint[], ${fresh.map((n) => n.rolloutId)}::text[],
                  ${fresh.map((n) => n.userId)}::text[], ${fresh.map((n) => n.instanceId)}::text[],
                  ${fresh.map((n) => n.reason)}::text[], ${fresh.map((n) => n.detail)}::text[],
                  ${fresh.map((n) => n.lastRequestId)}::text[])
        AS n(rollout_instance_id, rollout_id, user_id, instance_id, reason, detail, last_request_id)
      ON CONFLICT (user_id, instance_id) WHERE status <> 'closed' DO NOTHING
      RETURNING id, rollout_instance_id`;
    for (const row of inserted)
      raised.push({ rolloutInstanceId: row.rollout_instance_id, flagId: row.id, action: 'flagged' });
  }
  if (raised.length === 0) return raised;

  const needOf = new Map(needs.map((n) => [n.rolloutInstanceId, n]));
  await tx.$executeRaw`
    INSERT INTO manual_install_flag_occurrence (rollout_instance_id, flag_id, rollout_id, at)
    SELECT o.rollout_instance_id, o.flag_id, o.rollout_id::uuid, ${now}
    FROM unnest(${raised.map((r) => r.rolloutInstanceId)}::bigint[], ${raised.map((r) => r.flagId)}::bigint[],
                ${raised.map((r) => needOf.get(r.rolloutInstanceId)!.rolloutId)}::text[])
      AS o(rollout_instance_id, flag_id, rollout_id)`;
  await tx.$executeRaw`
    INSERT INTO manual_install_flag_event (flag_id, at, action, actor, detail)
    SELECT e.flag_id, ${now}, e.action, ${RECONCILER_ACTOR}, e.detail::jsonb
    FROM unnest(${raised.map((r) => r.flagId)}::bigint[], ${raised.map((r) => r.action)}::text[],
                ${raised.map((r) => historyOf(needOf.get(r.rolloutInstanceId)!))}::text[])
      AS e(flag_id, action, detail)`;
  return raised;
}
