import { Counter, Histogram } from 'prom-client';
import type { MetricsRegistry } from './registry.ts';

/** The route label of a request no route matched (an unknown path, or one refused before routing). */
export const UNMATCHED_ROUTE = 'unmatched';

export type HttpMetrics = {
  /**
   * One answered request. `route` is the route's pattern (`/v1/rollouts/:id`), never the raw path: a path carries
   * ids, and one series per id would grow without bound.
   */
  requestFinished(request: { method: string; route: string; status: number; durationSeconds: number }): void;
};

export function createHttpMetrics(registry: MetricsRegistry): HttpMetrics {
  const registers = [registry];
  const requests = new Counter({
    name: 'fleet_http_requests_total',
    help: 'HTTP requests answered, by method, route pattern and status',
    labelNames: ['method', 'route', 'status'] as const,
    registers,
  });
  const duration = new Histogram({
    name: 'fleet_http_request_duration_seconds',
    help: 'Time from receiving an HTTP request to finishing its answer, by method and route pattern',
    labelNames: ['method', 'route'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers,
  });
  return {
    requestFinished({ method, route, status, durationSeconds }) {
      requests.inc({ method, route, status: String(status) });
      duration.observe({ method, route }, durationSeconds);
    },
  };
}
