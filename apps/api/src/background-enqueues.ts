/**
 * Enqueues that may outlive their request. Creating a rollout records it and all its instances in Postgres (the
 * durable part, done before any answer), then hands its first wave to Redis, which for 100,000 instances takes
 * seconds of BullMQ's add script per job. POST /v1/rollouts waits for that at most `waitMs`: a rollout whose jobs
 * are all in Redis by then is answered `enqueued: true`; a larger one is answered 202 with `enqueued: false` at
 * once, its enqueue going on here, and `enqueued` turns true in GET /v1/rollouts/:id when it is done.
 *
 * The API's stop() waits for the enqueues still running (drain) within its shutdown deadline. One cut short (the
 * process killed, Redis gone) leaves its rollout `enqueuedAt: null`, which the reconciler finishes after
 * ENQUEUE_GRACE_MS: job ids are the instance ids, so what got through is not enqueued twice.
 */
export type BackgroundEnqueues = {
  /**
   * Starts `enqueue` (which must not reject: it answers false when it did not finish) and waits for it at most
   * `waitMs`. True when it finished in that time; false when it failed or is still running.
   */
  start(enqueue: () => Promise<boolean>): Promise<boolean>;
  /** Resolves once every enqueue started so far has ended. */
  drain(): Promise<void>;
  /** Enqueues still running. */
  running(): number;
};

/** `waitMs` unset: every POST waits for its whole enqueue (nothing outlives its request). */
export function createBackgroundEnqueues(options: { waitMs?: number } = {}): BackgroundEnqueues {
  const { waitMs } = options;
  const inFlight = new Set<Promise<boolean>>();
  return {
    async start(enqueue) {
      const done = enqueue().catch(() => false);
      inFlight.add(done);
      void done.finally(() => inFlight.delete(done));
      if (waitMs === undefined) return done;
      let timer: NodeJS.Timeout | undefined;
      const waited = new Promise<false>((resolve) => {
        timer = setTimeout(() => resolve(false), waitMs);
      });
      try {
        return await Promise.race([done, waited]);
      } finally {
        clearTimeout(timer);
      }
    },
    async drain() {
      while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
    },
    running: () => inFlight.size,
  };
}
