/**
 * The order in which the enqueue thread hands rollouts' jobs to Redis. Every enqueue starts at once (up to
 * `firstPagesAtOnce`) with its first page, the few jobs its workers need to start; past that, enqueues go on in turn,
 * up to `enqueuesAtOnce` side by side, the rest waiting in the order their first pages went.
 *
 * One at a time, a 10-instance rollout posted while a 20,000-instance one was being handed over waited the whole
 * second or two of it, so its POST spent all of ENQUEUE_WAIT_MS and answered `enqueued: false` (the reads bench's
 * creates: 1.4 s, five at a time). Four side by side with whole waves, 20 rollouts posted at once went in five rounds,
 * and the last ones' first calls came 4.5 s after their POSTs on a quiet VM, 9 s on a busy one (the rate bench's 20
 * accounts, 12-08). The thread holds at most `firstPagesAtOnce` first pages and `enqueuesAtOnce` large ones of rows.
 */
export type EnqueueTurns = {
  /**
   * Runs `task` once a place among the starting enqueues is free. `inTurn` wraps the rollout's pages: it passes the
   * first at once, then leaves the starting places and waits for the rollout's turn to pass the rest.
   */
  run<R>(task: (inTurn: InTurn) => Promise<R>): Promise<R>;
  /** Enqueues running or waiting to start. */
  pending(): number;
};

export type InTurn = <T>(pages: AsyncGenerator<T[], void, void>) => AsyncGenerator<T[], void, void>;

/** A count of places, taken in the order asked. */
function places(size: number) {
  let taken = 0;
  const waiting: (() => void)[] = [];
  return {
    take(): Promise<void> {
      if (taken < size) {
        taken++;
        return Promise.resolve();
      }
      return new Promise((resolve) => waiting.push(resolve));
    },
    give(): void {
      const next = waiting.shift();
      if (next) next();
      else taken--;
    },
  };
}

export function createEnqueueTurns(options: { firstPagesAtOnce: number; enqueuesAtOnce: number }): EnqueueTurns {
  const starting = places(options.firstPagesAtOnce);
  const continuing = places(options.enqueuesAtOnce);
  let pending = 0;
  return {
    pending: () => pending,
    async run(task) {
      pending++;
      let startingHeld = true;
      const leaveStarting = () => {
        if (!startingHeld) return;
        startingHeld = false;
        starting.give();
      };
      async function* inTurn<T>(pages: AsyncGenerator<T[], void, void>): AsyncGenerator<T[], void, void> {
        let turn = false;
        try {
          const first = await pages.next();
          if (first.done) return;
          yield first.value;
          leaveStarting();
          await continuing.take();
          turn = true;
          yield* pages;
        } finally {
          if (turn) continuing.give();
          await pages.return();
        }
      }
      try {
        await starting.take();
        return await task(inTurn);
      } finally {
        leaveStarting();
        pending--;
      }
    },
  };
}
