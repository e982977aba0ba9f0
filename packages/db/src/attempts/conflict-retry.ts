/** Times a batch statement is re-run after Postgres aborted it as a deadlock victim or serialization failure. */
const CONFLICT_RETRIES = 3;

/** Deadlock (40P01) or serialization failure (40001): the statement was rolled back whole and may simply run again. */
function isTransientConflict(error: unknown): boolean {
  for (let e: unknown = error, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const codes = [
      (e as { code?: unknown }).code,
      (e as { originalCode?: unknown }).originalCode,
      (e as { meta?: { code?: unknown } }).meta?.code,
    ];
    if (codes.some((c) => c === '40P01' || c === '40001')) return true;
    const message = e instanceof Error ? e.message : '';
    if (/deadlock detected|could not serialize access/i.test(message)) return true;
  }
  return false;
}

/**
 * Runs `run` (one batch statement), and again after a transient conflict, up to CONFLICT_RETRIES more times. The wait
 * before each retry is random (up to 10 ms times the retry's number) so that two batches that collided do not meet
 * again at once. Anything else is thrown at once.
 */
export async function retryConflicts<T>(run: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await run();
    } catch (error) {
      if (attempt > CONFLICT_RETRIES || !isTransientConflict(error)) throw error;
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 10 * attempt));
    }
  }
}
