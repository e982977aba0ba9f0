/**
 * The most of `times` (ms, in any order) within any window [t, t + 1000): the worst one-second window, by which an
 * account's rate limit (rate + burst) is judged. For tests and the bench, which count calls or starts.
 */
export function worstSecond(times: readonly number[]): number {
  const sorted = [...times].sort((a, b) => a - b);
  let worst = 0;
  for (let i = 0, j = 0; i < sorted.length; i++) {
    while (j < sorted.length && sorted[j]! < sorted[i]! + 1000) j++;
    worst = Math.max(worst, j - i);
  }
  return worst;
}
