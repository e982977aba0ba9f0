import type { Database } from '@fleet/db';
import { listOpenRolloutsForWork } from '@fleet/db';
import type { Logger } from '@fleet/logger';
import type { InstallJobProcessor, InstallWorker, RedisClient } from '@fleet/queue';
import { createInstallWorker, rolloutWorkChannel } from '@fleet/queue';

/**
 * Per-rollout concurrency across many worker processes.
 *
 * Open-source BullMQ has no per-group concurrency, so each rollout gets a queue of its own whose *global*
 * concurrency (`Queue.setGlobalConcurrency`, stored in Redis and checked atomically when a job moves to active)
 * is the rollout's `concurrency`. No process, however many run, can have more of that rollout's jobs active at
 * once. This pool keeps one BullMQ Worker per open rollout in this process, found by polling Postgres (the
 * system of record, so a flushed Redis does not hide a rollout), and closes it when the rollout ends.
 */
export type RolloutWorkerPoolOptions = {
  db: Database;
  /** Worker-role connection (`maxRetriesPerRequest: null`); each BullMQ Worker duplicates it for blocking reads. */
  connection: RedisClient;
  prefix: string;
  processor: InstallJobProcessor;
  logger: Logger;
  /** How often open rollouts are looked up, in ms. */
  pollMs: number;
  /**
   * A connection of its own (it is put in subscriber mode) on which the pool listens for rollouts announced as
   * they are enqueued (rolloutWorkChannel): each announcement makes it look at Postgres at once rather than at the
   * next poll. Without one, only the poll finds new rollouts.
   */
  announcements?: RedisClient;
  /** Most jobs of one rollout this process runs at once (the rollout's own limit applies across processes). */
  maxConcurrencyPerRollout: number;
  /** BullMQ lock duration of an active job, in ms. */
  lockDurationMs: number;
  /** How long stop() waits for running jobs before releasing them to other workers, in ms. */
  shutdownTimeoutMs: number;
};

export type RolloutWorkerPool = {
  start(): Promise<void>;
  /** Stops taking jobs, lets running ones finish until the deadline, then releases the rest. Idempotent. */
  stop(): Promise<void>;
  /** Rollout ids this process currently works on. */
  activeRollouts(): string[];
  /** Runs one discovery pass now (tests, and start). */
  refresh(): Promise<void>;
};

export function createRolloutWorkerPool(options: RolloutWorkerPoolOptions): RolloutWorkerPool {
  const workers = new Map<string, InstallWorker>();
  let timer: NodeJS.Timeout | undefined;
  let refreshing: Promise<void> | null = null;
  let stopping: Promise<void> | null = null;

  /**
   * This process's share of a rollout's concurrency: the rollout's own, within this process's cap, at least 1. A job
   * of the install-monitoring-agent driver holds up to 10 instances (`instancesPerCall`), whose count the claim keeps
   * within the rollout's concurrency in Postgres: a tenth as many jobs (one more, for the jobs that only find their
   * instance taken by another's call) keep it full, where as many jobs as instances would mostly wait for a free slot.
   */
  function concurrencyFor(rolloutConcurrency: number, instancesPerCall: number): number {
    const jobs = instancesPerCall > 1 ? Math.ceil(rolloutConcurrency / instancesPerCall) + 1 : rolloutConcurrency;
    return Math.max(1, Math.min(jobs, rolloutConcurrency, options.maxConcurrencyPerRollout));
  }

  function openWorker(rolloutId: string, concurrency: number, instancesPerCall: number): InstallWorker {
    const log = options.logger.child({ rolloutId });
    const worker = createInstallWorker({
      connection: options.connection,
      prefix: options.prefix,
      rolloutId,
      processor: options.processor,
      concurrency: concurrencyFor(concurrency, instancesPerCall),
      lockDurationMs: options.lockDurationMs,
      logger: log,
    });
    log.info('working on rollout', { concurrency: worker.concurrency });
    return worker;
  }

  async function closeWorker(rolloutId: string, worker: InstallWorker): Promise<void> {
    workers.delete(rolloutId);
    // Jobs held for their account's rate let go at once (the processor's signal): their wait is a delay in the queue.
    worker.cancelAllJobs('the rollout is no longer open');
    await worker.close();
    options.logger.info('stopped working on rollout', { rolloutId });
  }

  async function discover(): Promise<void> {
    const open = await listOpenRolloutsForWork(options.db);
    if (stopping) return;
    const openIds = new Set(open.map((r) => r.id));
    for (const rollout of open) {
      const worker = workers.get(rollout.id);
      if (!worker) workers.set(rollout.id, openWorker(rollout.id, rollout.concurrency, rollout.instancesPerCall));
      else {
        // The policy may have changed (PATCH): follow the rollout's concurrency, within this process's cap.
        const wanted = concurrencyFor(rollout.concurrency, rollout.instancesPerCall);
        if (worker.concurrency !== wanted) worker.concurrency = wanted;
      }
    }
    await Promise.all([...workers].filter(([id]) => !openIds.has(id)).map(([id, worker]) => closeWorker(id, worker)));
  }

  let refreshAgain = false;
  async function refresh(): Promise<void> {
    if (stopping) return;
    if (refreshing) {
      // A look already under way may have read Postgres before what asked for this one was committed.
      refreshAgain = true;
      return refreshing;
    }
    refreshing = discover()
      .catch((error: unknown) => {
        options.logger.warn('looking up open rollouts failed; will retry', { error: (error as Error).message });
      })
      .finally(() => {
        refreshing = null;
        if (refreshAgain) {
          refreshAgain = false;
          void refresh();
        }
      });
    await refreshing;
  }

  const channel = rolloutWorkChannel(options.prefix);
  const onAnnouncement = (from: string, rolloutId: string) => {
    if (from !== channel || workers.has(rolloutId)) return;
    void refresh();
  };

  function schedule(): void {
    timer = setTimeout(() => {
      void refresh().finally(() => {
        if (!stopping) schedule();
      });
    }, options.pollMs);
  }

  return {
    async start() {
      if (options.announcements) {
        options.announcements.on('message', onAnnouncement);
        await options.announcements.subscribe(channel);
      }
      await refresh();
      schedule();
    },
    stop() {
      stopping ??= (async () => {
        clearTimeout(timer);
        if (options.announcements) {
          options.announcements.off('message', onAnnouncement);
          await options.announcements.unsubscribe(channel).catch(() => undefined);
        }
        await refreshing;
        const all = [...workers.values()];
        workers.clear();
        let deadline: NodeJS.Timeout | undefined;
        // Jobs held for their account's rate let go at once, their wait a delay in the queue; calls finish.
        for (const w of all) w.cancelAllJobs('worker stopping');
        const drained = Promise.all(all.map((w) => w.close())).then(() => 'drained' as const);
        const expired = new Promise<'expired'>((resolve) => {
          deadline = setTimeout(() => resolve('expired'), options.shutdownTimeoutMs);
        });
        const result = await Promise.race([drained, expired]);
        clearTimeout(deadline);
        if (result === 'expired') {
          // Jobs still running are left to BullMQ's stall detection: another worker picks them up after the lock
          // expires, and the attempt row our claim wrote tells it the call may have been made.
          options.logger.warn('shutdown deadline passed; releasing running jobs', { workers: all.length });
          await Promise.all(all.map((w) => w.close(true)));
        }
      })();
      return stopping;
    },
    activeRollouts: () => [...workers.keys()],
    refresh,
  };
}
