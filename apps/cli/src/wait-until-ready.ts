/** What waitUntilReady saw: ready, or the last answer (or error) before the deadline passed or it was aborted. */
export type ReadyResult = { ready: true } | { ready: false; last: string };

/**
 * Polls `url` with GET until it answers 200, for at most `deadlineMs`, every `intervalMs` (default 250 ms); each
 * request may take up to 2000 ms. Stops early when `signal` aborts (the operator stopped `fleet up`).
 */
export async function waitUntilReady(
  url: string,
  options: { deadlineMs: number; intervalMs?: number; signal?: AbortSignal },
): Promise<ReadyResult> {
  const deadline = Date.now() + options.deadlineMs;
  let last: string;
  for (;;) {
    if (options.signal?.aborted) return { ready: false, last: 'stopped' };
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
      await res.body?.cancel();
      if (res.status === 200) return { ready: true };
      last = `HTTP ${res.status}`;
    } catch (error) {
      const cause = (error as { cause?: { code?: string } }).cause;
      last = cause?.code ?? (error instanceof Error ? error.message : String(error));
    }
    if (Date.now() >= deadline) return { ready: false, last };
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 250));
  }
}
