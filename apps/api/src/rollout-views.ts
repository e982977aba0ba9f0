import type { AttemptWithCall, InstanceCounts, InstancePageItem, InstanceRecord, RolloutRecord } from '@fleet/db';
import type { LimitsInForce } from '@fleet/limits';
import type { RolloutProgress } from '@fleet/rollout-domain';

/** JSON shapes of the public API. Dates as ISO strings, database ids never shown. */

/** What every answer about a rollout shows of it. */
function rolloutBaseView(rollout: RolloutRecord) {
  return {
    id: rollout.id,
    userId: rollout.userId,
    status: rollout.status,
    statusReason: rollout.statusReason,
    force: rollout.force,
    concurrency: rollout.concurrency,
    createdAt: rollout.createdAt.toISOString(),
    updatedAt: rollout.updatedAt.toISOString(),
    finishedAt: rollout.finishedAt?.toISOString() ?? null,
    enqueued: rollout.enqueuedAt !== null,
    /** The rollout this one retries; null for a first rollout. */
    parentRolloutId: rollout.parentRolloutId,
    /** Schedules: when a scheduled or waiting rollout may start calls next, and until when a running one may. */
    nextWindowAt: rollout.nextWindowAt?.toISOString() ?? null,
    callsUntil: rollout.callsUntil?.toISOString() ?? null,
  };
}

/**
 * `limitsInForce` is required (null when Redis did not answer, see readRolloutLimits) so that no answer shows
 * nulls for limits a GET would show. `progress` (done / total, rate, ETA; see rolloutProgress) is shown when given (GET /v1/rollouts/:id).
 */
export function rolloutView(
  rollout: RolloutRecord,
  counts: InstanceCounts,
  extra: { limitsInForce: LimitsInForce | null; progress?: RolloutProgress },
) {
  const { limitsInForce, progress } = extra;
  return {
    ...rolloutBaseView(rollout),
    policy: rollout.policy,
    /** The wave now allowed to run, of how many. */
    wave: { current: rollout.currentWave, count: rollout.waveCount },
    /** The limits this rollout runs under: its own concurrency, the global cap and its account's rate. */
    limits: {
      concurrency: rollout.concurrency,
      globalConcurrency: limitsInForce?.globalConcurrency ?? null,
      accountRateLimitRps: limitsInForce?.accountRateLimitRps ?? null,
      accountRateNowRps: limitsInForce?.accountRateNowRps ?? null,
    },
    counts,
    ...(progress ? { progress } : {}),
  };
}

/** A time as the API shows it: a Date written as ISO 8601, or text a page read already wrote so (InstancePageItem). */
function isoTime(time: Date | string): string {
  return typeof time === 'string' ? time : time.toISOString();
}

export function instanceView(instance: InstanceRecord | InstancePageItem) {
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
    nextAttemptAt: instance.nextAttemptAt === null ? null : isoTime(instance.nextAttemptAt),
    needsManualInstall: instance.needsManualInstall,
    manualInstallReason: instance.manualInstallReason,
    createdAt: isoTime(instance.createdAt),
    updatedAt: isoTime(instance.updatedAt),
    startedAt: instance.startedAt === null ? null : isoTime(instance.startedAt),
    finishedAt: instance.finishedAt === null ? null : isoTime(instance.finishedAt),
  };
}

export function attemptView(attempt: AttemptWithCall) {
  return {
    attemptNo: attempt.attemptNo,
    kind: attempt.kind,
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
    callId: attempt.callId,
    callInstanceIds: attempt.callInstanceIds,
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

/**
 * A rollout in a listing: its counts per state (one query for the page), who created it, and no progress (its rate
 * would cost a query per rollout: GET /v1/rollouts/:id has it).
 */
export function rolloutSummaryView(rollout: RolloutRecord, counts: InstanceCounts, keyNames: Map<string, string>) {
  const keyId = rollout.createdByKeyId;
  return {
    ...rolloutBaseView(rollout),
    totalInstances: rollout.totalInstances,
    counts,
    createdBy: keyId ? { kind: 'api_key' as const, id: keyId, name: keyNames.get(keyId) ?? null } : null,
  };
}

/** Cursor of the rollout listing: the last rollout's creation time (ms) and id. */
export function encodeRolloutCursor(position: { createdAt: Date; id: string }): string {
  return Buffer.from(`${position.createdAt.getTime()}.${position.id}`, 'utf8').toString('base64url');
}

/** Decodes a cursor made by encodeRolloutCursor; null when it is not one. */
export function decodeRolloutCursor(cursor: string): { createdAt: Date; id: string } | null {
  const match = /^(\d{1,15})\.([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/.exec(
    Buffer.from(cursor, 'base64url').toString('utf8'),
  );
  return match ? { createdAt: new Date(Number(match[1])), id: match[2]! } : null;
}
