import type { AttemptRecord, InstanceCounts, InstanceRecord, RolloutRecord } from '@fleet/db';

/** JSON shapes of the public API. Dates as ISO strings, database ids never shown. */

export function rolloutView(rollout: RolloutRecord, counts: InstanceCounts) {
  return {
    id: rollout.id,
    userId: rollout.userId,
    status: rollout.status,
    statusReason: rollout.statusReason,
    force: rollout.force,
    concurrency: rollout.concurrency,
    policy: rollout.policy,
    counts,
    createdAt: rollout.createdAt.toISOString(),
    updatedAt: rollout.updatedAt.toISOString(),
    finishedAt: rollout.finishedAt?.toISOString() ?? null,
    enqueued: rollout.enqueuedAt !== null,
  };
}

export function instanceView(instance: InstanceRecord) {
  return {
    instanceId: instance.instanceId,
    state: instance.state,
    attemptCount: instance.attemptCount,
    lastError:
      instance.lastErrorCode !== null || instance.lastErrorMessage !== null
        ? {
            outcome: instance.lastOutcome,
            httpStatus: instance.lastHttpStatus,
            code: instance.lastErrorCode,
            message: instance.lastErrorMessage,
            requestId: instance.lastRequestId,
          }
        : null,
    lastRequestId: instance.lastRequestId,
    nextAttemptAt: instance.nextAttemptAt?.toISOString() ?? null,
    needsManualInstall: instance.needsManualInstall,
    manualInstallReason: instance.manualInstallReason,
    createdAt: instance.createdAt.toISOString(),
    updatedAt: instance.updatedAt.toISOString(),
    startedAt: instance.startedAt?.toISOString() ?? null,
    finishedAt: instance.finishedAt?.toISOString() ?? null,
  };
}

export function attemptView(attempt: AttemptRecord) {
  return {
    attemptNo: attempt.attemptNo,
    startedAt: attempt.startedAt.toISOString(),
    finishedAt: attempt.finishedAt?.toISOString() ?? null,
    durationMs: attempt.durationMs,
    httpStatus: attempt.httpStatus,
    success: attempt.success,
    errorCode: attempt.errorCode,
    errorMessage: attempt.errorMessage,
    requestId: attempt.requestId,
    outcome: attempt.outcome,
    outcomeKind: attempt.outcomeKind,
  };
}

export function encodeCursor(id: bigint): string {
  return Buffer.from(id.toString(), 'utf8').toString('base64url');
}

/** Decodes a cursor made by encodeCursor; null when it is not one. */
export function decodeCursor(cursor: string): bigint | null {
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  return /^\d{1,19}$/.test(text) ? BigInt(text) : null;
}
