/**
 * Group commit: writes submitted by concurrent callers are gathered and committed together, one statement (one
 * round trip, one commit, one WAL flush) for many rows, and every caller is answered with its own row's result
 * once that commit is done. Nothing is acknowledged before it is durable; only the number of commits shrinks.
 *
 * Batching is adaptive rather than timed: a batch leaves on the next turn of the event loop with whatever has
 * arrived by then (so an idle system pays no waiting), and while `maxConcurrentBatches` batches are in flight new
 * writes queue up and leave together as soon as one returns. The busier the database, the larger the batches.
 */
export type GroupCommitOptions = {
  /** Most writes in one statement. Default 200. */
  maxBatch?: number;
  /** Batches in flight at once (each holds one pooled connection while it runs). Default 2. */
  maxConcurrentBatches?: number;
  /** Told the size of every batch as it leaves (a metric of how much the commits are shared). Default: nobody. */
  onBatch?: (size: number) => void;
};

export type GroupCommit<I, O> = {
  /** Queues one write; resolves with its result after the statement that carried it has committed. */
  submit(input: I): Promise<O>;
};

type Pending<I, O> = { input: I; resolve: (value: O) => void; reject: (error: unknown) => void };

/**
 * `commit` receives a batch and must return one result per input, in the same order; if it throws, every write of
 * that batch is rejected with the error (nothing of it was committed: it was one statement).
 */
export function createGroupCommit<I, O>(
  commit: (inputs: I[]) => Promise<O[]>,
  options: GroupCommitOptions = {},
): GroupCommit<I, O> {
  const maxBatch = options.maxBatch ?? 200;
  const maxConcurrent = options.maxConcurrentBatches ?? 2;
  const queue: Pending<I, O>[] = [];
  let inFlight = 0;
  let scheduled = false;

  function schedule(): void {
    if (scheduled || queue.length === 0 || inFlight >= maxConcurrent) return;
    scheduled = true;
    setImmediate(flush);
  }

  function flush(): void {
    scheduled = false;
    while (queue.length > 0 && inFlight < maxConcurrent) {
      const batch = queue.splice(0, maxBatch);
      inFlight++;
      options.onBatch?.(batch.length);
      commit(batch.map((p) => p.input))
        .then(
          (results) => {
            if (results.length !== batch.length)
              throw new Error(`group commit: ${results.length} results for ${batch.length} writes`);
            batch.forEach((p, i) => p.resolve(results[i]!));
          },
          (error: unknown) => batch.forEach((p) => p.reject(error)),
        )
        .catch((error: unknown) => batch.forEach((p) => p.reject(error)))
        .finally(() => {
          inFlight--;
          schedule();
        });
    }
  }

  return {
    submit(input) {
      return new Promise<O>((resolve, reject) => {
        queue.push({ input, resolve, reject });
        schedule();
      });
    },
  };
}
