/** True when an instance first started at `startedAt` has run out of its in-progress time by `at`. */
export function isTimedOut(startedAt: Date | null, timeoutMs: number | null, at: Date): boolean {
  return timeoutMs !== null && startedAt !== null && at.getTime() >= startedAt.getTime() + timeoutMs;
}
