import type { AccountCalling, AccountClients } from '@fleet/accounts';
import type { AttemptWriter, Database } from '@fleet/db';
import type { AccountRateLimiter, CallAdmission, GlobalConcurrency } from '@fleet/limits';
import type { Logger } from '@fleet/logger';
import type { WorkerMetrics } from '@fleet/metrics';
import type { InstallJob } from '@fleet/queue';
import { delayInstallJob } from '@fleet/queue';
import type { RolloutControlDeps } from '@fleet/rollout-control';
import type { JobDelay } from '@fleet/rollout-domain';
import type { RolloutCache, RolloutSettings } from './rollout-cache.ts';
import type { StatusChecks } from './status-checks.ts';

export type InstallProcessorDeps = {
  db: Database;
  /**
   * Claims and answers; default a group-committing writer on `db` (createAttemptWriter), so that the writes of
   * concurrent jobs share commits. Pass one to share it between processors of one process.
   */
  attempts?: AttemptWriter;
  /**
   * The CloudMonitor client of each account: its own credentials, endpoint and limits, or the worker's (see
   * @fleet/accounts); read again within a second of a change, so a rotation needs no restart.
   */
  accounts: AccountClients;
  rollouts: RolloutCache;
  /** Rollout-wide operations (waves, abort, fleet-wide pause); its Redis connection may be the worker's. */
  control: RolloutControlDeps;
  globalConcurrency: GlobalConcurrency;
  accountRate: AccountRateLimiter;
  /**
   * Reserves the call's start on the account's schedule and takes a global slot in one step, and gives slots back;
   * default built from the two limiters above (wait bound 1000 ms). Pass one to choose the wait bound
   * (ACCOUNT_RATE_MAX_WAIT_MS) and to flush its waiting releases on shutdown (CallAdmission.flush).
   */
  admission?: CallAdmission;
  logger: Logger;
  /** Counts recorded calls and finished instances (fleet_install_calls_total, ...). Default: nothing is counted. */
  metrics?: WorkerMetrics;
  workerId: string;
  /** Deadline of one NodeInstall call, in ms; an unfinished attempt older than this plus a grace is abandoned. */
  callTimeoutMs: number;
  /** Jitter and retry backoff draw from it, one value per decision; returns [0, 1). Default Math.random. */
  random?: () => number;
  /**
   * The clock every time of the install path is read from: claims, retry due times, waits for a call in flight, the
   * abort-check spacing. Default the system clock.
   */
  now?: () => Date;
  /**
   * How a held job waits on this loop (ms; default setTimeout). Given, it also waits out each call's time until its
   * reserved start here, before the call is handed to the client (a test's way to make this process late for its
   * starts); not given, the client waits where it sends (CmsClient.nodeInstallAt: the worker's send thread).
   */
  sleep?: (ms: number) => Promise<void>;
  /**
   * The clock a maintenance window's end is compared with at each claim (the rollout's calls_until): Postgres's, as
   * the scheduler's. Default `now` (main.ts passes a DatabaseClock as `now`).
   */
  scheduleNow?: () => Date;
  /** skipInstalled's batched status checks; default built from `cms` and `accountRate` (status-checks.ts). */
  statusChecks?: StatusChecks;
};

export type InstallJobOutcome =
  | 'skipped_final'
  | 'skipped_rollout_closed'
  | 'succeeded'
  | 'failed'
  | 'cancelled'
  | 'skipped'
  | 'retry_scheduled'
  | 'duplicate';

/** "Is the rollout done?" after final transitions (after-final.ts createCompletionChecks). */
export type CompletionChecks = { request(rollout: { id: string; userId: string }): void };

/** What every job of one processor shares: the deps with their defaults, and the per-process throttles. */
export type Processor = {
  deps: InstallProcessorDeps;
  now: () => Date;
  scheduleNow: () => Date;
  random: () => number;
  sleep: (ms: number) => Promise<void>;
  attempts: AttemptWriter;
  admission: CallAdmission;
  statusChecks: StatusChecks;
  /** Per rollout: when this process last evaluated the abort threshold, in ms by `now`. */
  lastAbortCheck: Map<string, number>;
  completionChecks: CompletionChecks;
};

/** One job's own: the job and its lock token, its instance, its rollout as read, and its logger. */
export type JobRun = {
  job: InstallJob;
  token: string | undefined;
  rolloutInstanceId: bigint;
  instanceId: string;
  rollout: RolloutSettings;
  /** How this job's call is made: the account's client and the credentials version it signs with. */
  account: AccountCalling;
  log: Logger;
  /** Aborted when this process lets its jobs go (shutdown, the rollout's worker closing): see holdForStart. */
  signal: AbortSignal | undefined;
};

/** Puts the job back in its queue for the decided time; never returns (BullMQ's DelayedError ends the job's run). */
export function delayJob(job: InstallJob, token: string | undefined, delay: JobDelay): Promise<never> {
  return delayInstallJob(job, token, delay.ms);
}
