import type { IncomingMessage, ServerResponse } from 'node:http';
import type { MetricsRegistry } from './registry.ts';

export type MetricsHandlerOptions = {
  registry: MetricsRegistry;
  /** Told about a scrape that failed (a collect threw: a query failed); the scrape is answered 500. */
  onError?: (error: unknown) => void;
};

/**
 * Answers a scrape with the registry in the Prometheus text format. A plain node:http handler, so that the same one
 * serves the worker's and reconciler's metrics server and the API's Express route (Express passes node's own request
 * and response). Who may scrape is decided before it (the API's METRICS_TOKEN, hasBearerToken).
 */
export function createMetricsHandler(options: MetricsHandlerOptions) {
  const { registry } = options;
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    try {
      const text = await registry.metrics();
      res.writeHead(200, { 'content-type': registry.contentType, 'cache-control': 'no-store' });
      res.end(req.method === 'HEAD' ? undefined : text);
    } catch (error) {
      options.onError?.(error);
      res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
      res.end('metrics could not be collected\n');
    }
  };
}
