import type { InstanceState } from '@fleet/rollout-domain';
import type { Database } from './client.ts';

export type InstanceRecord = {
  id: bigint;
  rolloutId: string;
  instanceId: string;
  state: InstanceState;
  attemptCount: number;
  lastOutcome: string | null;
  lastHttpStatus: number | null;
  lastErrorCode: string | null;
  lastErrorMessage: string | null;
  lastRequestId: string | null;
  nextAttemptAt: Date | null;
  needsManualInstall: boolean;
  manualInstallReason: string | null;
  createdAt: Date;
  updatedAt: Date;
  startedAt: Date | null;
  finishedAt: Date | null;
};

export type AttemptRecord = {
  id: bigint;
  attemptNo: number;
  startedAt: Date;
  finishedAt: Date | null;
  durationMs: number | null;
  httpStatus: number | null;
  success: boolean | null;
  errorCode: string | null;
  errorMessage: string | null;
  requestId: string | null;
  outcome: string | null;
  outcomeKind: string | null;
  workerId: string | null;
};

export type InstancePage = { instances: InstanceRecord[]; nextCursor: bigint | null };

/**
 * One page of a rollout's instances in id order, optionally of one state. Keyset pagination on the
 * (rollout_id, state, id) / (rollout_id, id) indexes: page N costs the same as page 1 at 100,000 instances.
 */
export async function listInstances(
  db: Database,
  rolloutId: string,
  options: { state?: InstanceState; limit: number; after?: bigint },
): Promise<InstancePage> {
  const rows = (await db.rolloutInstance.findMany({
    where: { rolloutId, ...(options.state ? { state: options.state } : {}), ...(options.after !== undefined ? { id: { gt: options.after } } : {}) },
    orderBy: { id: 'asc' },
    take: options.limit + 1,
  })) as InstanceRecord[];
  const hasMore = rows.length > options.limit;
  const instances = hasMore ? rows.slice(0, options.limit) : rows;
  return { instances, nextCursor: hasMore ? instances[instances.length - 1]!.id : null };
}

export async function findInstance(db: Database, rolloutId: string, instanceId: string): Promise<InstanceRecord | null> {
  return (await db.rolloutInstance.findUnique({ where: { rolloutId_instanceId: { rolloutId, instanceId } } })) as InstanceRecord | null;
}

export async function findInstanceWithAttempts(
  db: Database,
  rolloutId: string,
  instanceId: string,
): Promise<(InstanceRecord & { attempts: AttemptRecord[] }) | null> {
  const row = await db.rolloutInstance.findUnique({
    where: { rolloutId_instanceId: { rolloutId, instanceId } },
    include: { attempts: { orderBy: { attemptNo: 'asc' } } },
  });
  return row as (InstanceRecord & { attempts: AttemptRecord[] }) | null;
}

/** Instances of a rollout that are not final, in id order, `limit` at a time (for enqueueing and repairs). */
export async function listOpenInstanceIds(
  db: Database,
  rolloutId: string,
  options: { limit: number; after?: bigint },
): Promise<{ id: bigint; instanceId: string }[]> {
  return db.rolloutInstance.findMany({
    where: { rolloutId, state: { in: ['pending', 'in_progress'] }, ...(options.after !== undefined ? { id: { gt: options.after } } : {}) },
    orderBy: { id: 'asc' },
    take: options.limit,
    select: { id: true, instanceId: true },
  });
}
