export { createMetricsRegistry } from './registry.ts';
export type { MetricsRegistry } from './registry.ts';
export { createMetricsServer, serveMetrics } from './metrics-server.ts';
export type { MetricsServer, MetricsServerOptions } from './metrics-server.ts';
export { createMetricsHandler } from './metrics-handler.ts';
export { hasBearerToken } from './bearer-token.ts';
export { createHttpMetrics, UNMATCHED_ROUTE } from './http-metrics.ts';
export type { HttpMetrics } from './http-metrics.ts';
export { createWorkerMetrics } from './worker-metrics.ts';
export type {
  FinishedInstanceState,
  InstallCallOutcome,
  WorkerMetrics,
  WorkerMetricsSources,
} from './worker-metrics.ts';
export { createReconcilerMetrics } from './reconciler-metrics.ts';
export type { ReconcilerMetrics, ReconcilerSnapshot } from './reconciler-metrics.ts';
