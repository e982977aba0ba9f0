/**
 * Polls `check` until it returns a truthy value, and returns that value. A check that throws counts as not yet
 * (a table not there yet, a connection refused) and is tried again; after `timeoutMs` (default 30 s) the error
 * names what was awaited, the time and the last value or error seen. `intervalMs` defaults to 50 ms.
 */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T> | T,
  options: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<NonNullable<T>> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value) return value as NonNullable<T>;
      last = value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) {
      const seen = last instanceof Error ? last.message : JSON.stringify(last);
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${seen})`);
    }
    await new Promise((r) => setTimeout(r, options.intervalMs ?? 50));
  }
}
