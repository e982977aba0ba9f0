import { Registry, collectDefaultMetrics } from 'prom-client';

/** A process's metrics: every fleet metric of the process and prom-client's default process and Node metrics. */
export type MetricsRegistry = Registry;

/**
 * One registry per process (or per test), never prom-client's global one: two worker pools in one test process,
 * each with its own registry, must not count into each other. Holds prom-client's default metrics (CPU, memory,
 * handles, GC, `nodejs_eventloop_lag_seconds`, ...), which are read when scraped.
 */
export function createMetricsRegistry(): MetricsRegistry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return registry;
}
