import type { RedisClient } from '@fleet/queue';
import type { AccountClients } from '@fleet/accounts';
import type { CmsClient } from '@fleet/cms-client';
import type { Database, RolloutRecord } from '@fleet/db';
import {
  claimAttempt,
  completeRolloutIfDone,
  countInstances,
  deleteFinishSecondsBefore,
  deleteIdempotencyRecordsBefore,
  findRollout,
  iterateOpenInstancesForRepair,
  listCallsInFlight,
  listRolloutsByStatus,
  listRolloutsClosedSince,
  raiseMissingManualInstallFlags,
} from '@fleet/db';
import type { AccountRateLimiter } from '@fleet/limits';
import { createAccountRateLimiter, createLimitsRecovery } from '@fleet/limits';
import type { Logger } from '@fleet/logger';
import { advanceWaves, applySchedules } from '@fleet/rollout-control';
import type { EventSource } from '@fleet/rollout-domain';
import { armRolloutVerification, verifyInstalls } from './install-verifier.ts';
import { pruneOldAttempts } from './attempt-retention.ts';
import type { LeaderLease } from './leader-lease.ts';
import type { ReconcileReport } from './reconcile-report.ts';
import { addQueueReport, emptyReport } from './reconcile-report.ts';
import { LeaseLostError } from './leader-lease.ts';
import type { QueueRepairDeps } from './queue-repairs.ts';
import { enqueueUnfinishedRollout, repairOpenRolloutQueue, sweepClosedRolloutQueue } from './queue-repairs.ts';

export type ReconcilerDeps = {
  db: Database;
  redis: RedisClient;
  prefix: string;
  logger: Logger;
  lease: LeaderLease;
  /** This process's id (RECONCILER_ID), named as the actor of the changes it makes. Default 'reconciler'. */
  reconcilerId?: string;
  /** CloudMonitor client for NodeStatusList (install verification). */
  cms: CmsClient;
  /** Each account's own client for the verification calls (see @fleet/accounts). Default: `cms` for every account. */
  accounts?: Pick<AccountClients, 'current'>;
  /**
   * The accounts' rate schedules in Redis, which every verification call reserves its start on (main.ts: the
   * workers' ACCOUNT_RATE_* and each account's own limits). Default: one on `redis` and `prefix` at
   * DEFAULT_ACCOUNT_RATE_RPS calls per second per account, burst 1.
   */
  accountRate?: AccountRateLimiter;
  /** Pause between passes, in ms. */
  intervalMs: number;
  /** A rollout recorded this long ago (ms) whose enqueue never finished is enqueued by the reconciler. */
  enqueueGraceMs: number;
  /** An unfinished attempt older than this (ms) belongs to a dead worker: the worker's call timeout plus a grace. Default 15000. */
  staleAttemptMs?: number;
  /** Time the agent has to report running after a successful NodeInstall, in ms. Default 600000 (10 minutes). */
  verifyWindowMs?: number;
  /** Most instances whose agent status is checked per pass. Default 5000. */
  verifyBatchSize?: number;
  /** Closed rollouts are still looked after (flags, verification, leftover jobs) this long after they end, in ms. Default 86400000. */
  lookbackMs?: number;
  /** During a long pass the lease is renewed at least this often, in ms; default intervalMs. */
  leaseRenewEveryMs?: number;
  /** Per-second finish counts (progress over the last minute) older than this are deleted each pass, in ms. Default 600000. */
  finishSecondRetentionMs?: number;
  /**
   * Idempotency-Key records older than this are deleted each pass, in ms (a key may then be used again, as a new
   * request). Default 86400000 (24 hours).
   */
  idempotencyRetentionMs?: number;
  /** Finished rollouts' attempt rows are replaced by a summary this many days after they end; 0 keeps them. Default 90. */
  attemptRetentionDays?: number;
  /** Told what every pass did, when it ends (the metrics' repair counts and leader gauge). */
  onPassFinished?: (report: ReconcileReport) => void;
  now?: () => Date;
  /**
   * The time schedules are decided on (startAt, windows, endAt): Postgres's, from the DatabaseClock main.ts makes,
   * so that no host's clock skew moves a window's edge. Default `now`.
   */
  scheduleNow?: () => Date;
};

/** The accounts' rate without a limiter given: the workers' ACCOUNT_RATE_LIMIT_RPS default, calls per second. */
const DEFAULT_ACCOUNT_RATE_RPS = 50;

export type Reconciler = {
  start(): void;
  /** Ends the loop after the pass in progress and gives up the lease. Idempotent. */
  stop(): Promise<void>;
  runOnce(): Promise<ReconcileReport>;
};

/**
 * Makes the outcome right whatever Redis or a worker did: Postgres is the record, Redis is transport that can be
 * flushed, restarted or fail over, and workers can be killed mid-call. One replica at a time acts (a lease in
 * Redis); every repair is idempotent and every write guarded, so a hand-over, or a brief overlap, is safe.
 *
 * Each pass, for every open rollout:
 * - enqueue it, if its enqueue never finished (after `enqueueGraceMs`);
 * - restore its queue's concurrency and pause state; re-add the jobs of open instances that Redis lost (pending
 *   ones once due; in_progress ones once their attempt is stale, i.e. their worker died) or that BullMQ failed;
 *   remove jobs of instances already final (see queue-repairs.ts);
 * - move a running rollout on whose current wave has finished but whose next wave never started;
 * - complete it when every instance is final;
 * - raise a manual-install flag for every instance that needs a manual install and has none.
 * For rollouts closed within `lookbackMs`: remove jobs they left in Redis, close in_progress instances of a
 * cancelled rollout whose worker died (through the claim), raise missing flags.
 * Then install verification (install-verifier.ts). Each pass also deletes per-second finish counts older than
 * `finishSecondRetentionMs`, which progress no longer reads, and Idempotency-Key records older than
 * `idempotencyRetentionMs`. It never decides an instance state itself: final
 * states come from the claim and the record of an attempt (packages/db attempts/, decided by the state machine),
 * which never move a final instance, and every NodeInstall call is made by a worker after its claim.
 */
export function createReconciler(deps: ReconcilerDeps): Reconciler {
  const now = deps.now ?? (() => new Date());
  const by: EventSource = { actor: { kind: 'reconciler', id: deps.reconcilerId ?? 'reconciler' } };
  const renewEveryMs = deps.leaseRenewEveryMs ?? deps.intervalMs;
  const lookbackMs = deps.lookbackMs ?? 86_400_000;
  const finishSecondRetentionMs = deps.finishSecondRetentionMs ?? 600_000;
  const idempotencyRetentionMs = deps.idempotencyRetentionMs ?? 86_400_000;
  const queueDeps: QueueRepairDeps = {
    db: deps.db,
    redis: deps.redis,
    prefix: deps.prefix,
    logger: deps.logger,
    staleAttemptMs: deps.staleAttemptMs ?? 15_000,
    now,
  };
  const limitsRecovery = createLimitsRecovery({
    redis: deps.redis,
    prefix: deps.prefix,
    callsInFlight: () => listCallsInFlight(deps.db, queueDeps.staleAttemptMs),
    staleAfterMs: queueDeps.staleAttemptMs,
    onRecovered: (facts) =>
      deps.logger.warn("rebuilt the global cap's slots from Postgres: Redis had lost them", facts),
  });
  const verifierDeps = {
    db: deps.db,
    cms: deps.cms,
    ...(deps.accounts ? { accounts: deps.accounts } : {}),
    logger: deps.logger,
    verifyWindowMs: deps.verifyWindowMs ?? 600_000,
    batchSize: deps.verifyBatchSize ?? 5000,
    accountRate:
      deps.accountRate ??
      createAccountRateLimiter(deps.redis, { prefix: deps.prefix, maxRatePerSecond: DEFAULT_ACCOUNT_RATE_RPS }),
    // A sweep waits for its calls' starts on the accounts' schedules: it renews the lease as the other steps do.
    stayLeader,
    now,
  };
  /** Closed rollouts with nothing left to do, so later passes skip them (memory of this process only). */
  const settled = new Set<string>();
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<unknown> | null = null;
  let stopped = false;
  let lastLeaseAt = 0;

  async function stayLeader(): Promise<void> {
    if (Date.now() - lastLeaseAt < renewEveryMs) return;
    if (!(await deps.lease.acquireOrRenew()))
      throw new LeaseLostError('the reconciler lease passed to another replica');
    lastLeaseAt = Date.now();
  }

  /** Runs one rollout's repair; a failure is logged and the pass goes on with the next rollout. */
  async function guarded(what: string, rolloutId: string, fn: () => Promise<void>): Promise<void> {
    try {
      await fn();
    } catch (error) {
      if (error instanceof LeaseLostError) throw error;
      deps.logger.warn(`reconcile step failed: ${what}; will retry next pass`, { rolloutId, error });
    }
  }

  async function reconcileOpenRollout(rollout: RolloutRecord, report: ReconcileReport): Promise<void> {
    if (rollout.enqueuedAt === null) {
      if (now().getTime() - rollout.createdAt.getTime() >= deps.enqueueGraceMs) {
        const count = await enqueueUnfinishedRollout(queueDeps, rollout);
        deps.logger.warn('repaired: enqueued a rollout whose enqueue had not finished', {
          rolloutId: rollout.id,
          instances: count,
        });
        report.enqueuedRollouts++;
      }
    } else {
      const repaired = await repairOpenRolloutQueue(queueDeps, rollout);
      addQueueReport(report.queue, repaired);
      if (repaired.openRunnable === 0 && rollout.status === 'running' && rollout.currentWave < rollout.waveCount) {
        // The last instance of the wave ended but its worker died before starting the next wave.
        await advanceWaves({ db: deps.db, redis: deps.redis, prefix: deps.prefix, logger: deps.logger, by }, rollout, {
          approved: false,
        });
        const after = await findRollout(deps.db, rollout.id);
        if (after && (after.currentWave !== rollout.currentWave || after.status !== rollout.status)) {
          deps.logger.warn('repaired: moved on a rollout stuck between waves', {
            rolloutId: rollout.id,
            wave: rollout.currentWave,
            nowWave: after.currentWave,
            status: after.status,
          });
          report.advancedWaves++;
        }
      }
    }
    if (await completeRolloutIfDone(deps.db, rollout.id, by)) {
      deps.logger.warn('repaired: completed a rollout whose instances were all final', { rolloutId: rollout.id });
      report.completedRollouts++;
    }
  }

  /**
   * A cancelled rollout whose worker died mid-call keeps that instance in_progress, and no worker runs a closed
   * rollout's jobs. Once the attempt is stale, the claim, the same guarded path a worker takes, closes it as the
   * state machine says for a cancelled rollout (cancelled), with no call. Returns how many were closed.
   */
  async function closeOrphansOfCancelledRollout(rolloutId: string): Promise<number> {
    const closedIds: string[] = [];
    const staleAfterMs = queueDeps.staleAttemptMs;
    for await (const page of iterateOpenInstancesForRepair(deps.db, rolloutId, { pageSize: 1000 })) {
      for (const instance of page) {
        const inFlight = instance.attemptStartedAt !== null && instance.attemptFinishedAt === null;
        if (inFlight && now().getTime() - instance.attemptStartedAt!.getTime() < staleAfterMs) continue;
        const claim = await claimAttempt(deps.db, {
          rolloutInstanceId: instance.id,
          rolloutId,
          workerId: 'reconciler',
          staleAfterMs,
          now: now(),
        });
        if (claim.kind === 'closed') closedIds.push(instance.instanceId);
        // A cancelled rollout never lets a claim start an attempt (states.ts); if that ever changed, say so loudly.
        else if (claim.kind === 'claimed')
          deps.logger.error('claim on a cancelled rollout started an attempt; no call will be made for it', {
            rolloutId,
            instanceId: instance.instanceId,
          });
      }
    }
    if (closedIds.length > 0) {
      deps.logger.warn('repaired: closed in_progress instances of a cancelled rollout whose worker died', {
        rolloutId,
        instances: closedIds.length,
        instanceIds: closedIds.slice(0, 20),
      });
    }
    return closedIds.length;
  }

  /** Raises or carries the rollout's missing flags; returns how many of its instances got one. */
  async function raiseFlags(rolloutId: string, report: ReconcileReport): Promise<number> {
    const { flagged, reflagged, reopened } = await raiseMissingManualInstallFlags(deps.db, rolloutId, now(), by);
    if (flagged + reflagged + reopened > 0) {
      deps.logger.info('flagged instances for manual installation', {
        rolloutId,
        flags: flagged,
        carried: reflagged + reopened,
        reopened,
      });
      report.flagsRaised += flagged;
      report.flagsCarried += reflagged + reopened;
    }
    return flagged + reflagged + reopened;
  }

  /**
   * Rows that only ever grow unless someone deletes them: per-second finish counts (the triggers add one per rollout
   * and second with a finish; progress reads the last minute only) and Idempotency-Key records past their retention.
   */
  async function pruneExpired(report: ReconcileReport): Promise<void> {
    const at = now().getTime();
    try {
      report.prunedFinishSeconds = await deleteFinishSecondsBefore(deps.db, new Date(at - finishSecondRetentionMs));
    } catch (error) {
      deps.logger.warn('deleting old per-second finish counts failed; will retry next pass', { error });
    }
    try {
      report.prunedIdempotencyRecords = await deleteIdempotencyRecordsBefore(
        deps.db,
        new Date(at - idempotencyRetentionMs),
      );
      if (report.prunedIdempotencyRecords > 0)
        deps.logger.info('deleted expired Idempotency-Key records', {
          count: report.prunedIdempotencyRecords,
          olderThanMs: idempotencyRetentionMs,
        });
    } catch (error) {
      deps.logger.warn('deleting expired Idempotency-Key records failed; will retry next pass', { error });
    }
    const retentionDays = deps.attemptRetentionDays ?? 90;
    report.summarisedRollouts = await pruneOldAttempts({ db: deps.db, logger: deps.logger, retentionDays, now });
  }

  async function pass(): Promise<ReconcileReport> {
    const report = emptyReport();
    if (!(await deps.lease.acquireOrRenew())) return report;
    lastLeaseAt = Date.now();
    report.leader = true;
    let armed = 0;
    // Redis lost the global cap's slots: workers admit nothing until they are rebuilt (by whoever gets there first).
    void limitsRecovery.ensure().catch((error: unknown) =>
      deps.logger.warn('could not rebuild the limits from Postgres; the next pass tries again', {
        error: (error as Error).message,
      }),
    );
    try {
      // Schedules first: a window that opened or closed since the last pass is the most time-bound work there is.
      report.scheduleMoves = (
        await applySchedules(
          { db: deps.db, redis: deps.redis, prefix: deps.prefix, logger: deps.logger, by },
          (deps.scheduleNow ?? now)(),
        )
      ).length;
      await pruneExpired(report);
      const open = await listRolloutsByStatus(deps.db, ['running', 'paused']);
      for (const rollout of open) {
        await stayLeader();
        await guarded('open rollout repairs', rollout.id, () => reconcileOpenRollout(rollout, report));
        await guarded(
          'raising manual-install flags',
          rollout.id,
          async () => void (await raiseFlags(rollout.id, report)),
        );
        await guarded(
          'arming install verification',
          rollout.id,
          async () => void (armed += await armRolloutVerification(verifierDeps, rollout.id)),
        );
      }

      const recentlyClosed = await listRolloutsClosedSince(deps.db, new Date(now().getTime() - lookbackMs));
      const recentIds = new Set(recentlyClosed.map((r) => r.id));
      for (const id of settled) if (!recentIds.has(id)) settled.delete(id);
      const closed = recentlyClosed.filter((r) => !settled.has(r.id));
      for (const rollout of closed) {
        await stayLeader();
        await guarded('closed rollout sweep', rollout.id, async () => {
          if (rollout.status === 'cancelled') report.closedOrphans += await closeOrphansOfCancelledRollout(rollout.id);
          const removed = await sweepClosedRolloutQueue(queueDeps, rollout.id);
          report.removedClosedRolloutJobs += removed;
          const raised = await raiseFlags(rollout.id, report);
          const newlyArmed = await armRolloutVerification(verifierDeps, rollout.id);
          armed += newlyArmed;
          const counts = await countInstances(deps.db, rollout.id);
          // Nothing can change for it any more: no open instance, no job left, every flag raised, every succeeded
          // instance armed (pending verifications are found by the verification sweep, not per rollout).
          if (removed === 0 && raised === 0 && newlyArmed === 0 && counts.pending + counts.in_progress === 0)
            settled.add(rollout.id);
        });
      }

      await stayLeader();
      report.verification = await verifyInstalls(verifierDeps);
      report.verification.armed = armed;
    } catch (error) {
      if (!(error instanceof LeaseLostError)) throw error;
      deps.logger.warn('reconcile pass stopped: lease lost to another replica', { error: error.message });
      report.abandoned = error.message;
    }
    return report;
  }

  function runOnce(): Promise<ReconcileReport> {
    const current = pass().then((report) => {
      deps.onPassFinished?.(report);
      return report;
    });
    running = current.catch(() => undefined);
    return current;
  }

  function loop(): void {
    if (stopped) return;
    timer = setTimeout(async () => {
      try {
        await runOnce();
      } catch (error) {
        deps.logger.warn('reconcile pass failed; will retry', { error });
      }
      loop();
    }, deps.intervalMs);
  }

  return {
    start() {
      stopped = false;
      loop();
    },
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
      await deps.lease.release().catch(() => undefined);
    },
    runOnce,
  };
}
