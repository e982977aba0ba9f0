/** Latency percentiles of a set of samples (ms): nearest-rank p50 and p99, and the maximum. */
export type LatencyFigures = { samples: number; p50Ms: number; p99Ms: number; maxMs: number };

export function summarizeLatency(values: number[]): LatencyFigures {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] ?? NaN;
  return { samples: sorted.length, p50Ms: at(0.5), p99Ms: at(0.99), maxMs: sorted.at(-1) ?? NaN };
}
