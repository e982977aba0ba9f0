import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createMetricsHandler } from './metrics-handler.ts';
import type { MetricsRegistry } from './registry.ts';

export type MetricsServerOptions = {
  registry: MetricsRegistry;
  /** TCP port of `GET /metrics`. 0 is not "any port" here: the caller decides not to start a server then. */
  port: number;
  /** Interface to listen on. Default `0.0.0.0` (Prometheus scrapes from another host). */
  host?: string;
  /** Told about a scrape that failed; the scrape is answered 500. */
  onError?: (error: unknown) => void;
};

export type MetricsServer = {
  /** Listens; resolves with the port once it does, rejects if the port is taken. */
  start(): Promise<number>;
  /** Stops listening and closes open connections (a scraper's keep-alive one included). Idempotent. */
  stop(): Promise<void>;
};

/**
 * The worker's and reconciler's `/metrics` endpoint: a bare node:http server apart from anything else the process
 * serves. `GET` or `HEAD /metrics` answers the registry; any other path is a 404, any other method a 405.
 */
export function createMetricsServer(options: MetricsServerOptions): MetricsServer {
  const handle = createMetricsHandler({ registry: options.registry, onError: options.onError });
  let server: Server | null = null;
  let stopping: Promise<void> | null = null;

  return {
    start() {
      if (server) throw new Error('metrics server already started');
      const listening = createServer((req, res) => {
        const path = (req.url ?? '/').split('?')[0];
        if (path !== '/metrics') {
          res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found; try /metrics\n');
        } else if (req.method !== 'GET' && req.method !== 'HEAD') {
          res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' }).end();
        } else {
          void handle(req, res);
        }
      });
      server = listening;
      return new Promise((resolve, reject) => {
        listening.once('error', reject);
        listening.listen(options.port, options.host ?? '0.0.0.0', () => {
          listening.off('error', reject);
          resolve((listening.address() as AddressInfo).port);
        });
      });
    },
    stop() {
      const running = server;
      if (!running) return Promise.resolve();
      stopping ??= new Promise<void>((resolve) => {
        running.close(() => resolve());
        running.closeAllConnections();
      });
      return stopping;
    },
  };
}

/** What serveMetrics logs with (a @fleet/logger Logger fits). */
type MetricsLog = { info(message: string, meta?: object): void; warn(message: string, meta?: object): void };

/**
 * A process's `/metrics` as its main.ts serves it: nothing when `port` is 0 (METRICS_PORT=0 turns it off), else a
 * started server, logged with its port. Rejects, naming the port, when it cannot listen (another process has it:
 * two workers on one host need a METRICS_PORT each).
 */
export async function serveMetrics(options: {
  registry: MetricsRegistry;
  port: number;
  logger: MetricsLog;
}): Promise<MetricsServer | null> {
  if (options.port === 0) return null;
  const server = createMetricsServer({
    registry: options.registry,
    port: options.port,
    onError: (error) => options.logger.warn('a metrics scrape failed', { error: (error as Error).message }),
  });
  try {
    const port = await server.start();
    options.logger.info('serving metrics', { port, path: '/metrics' });
    return server;
  } catch (error) {
    await server.stop();
    throw new Error(`cannot serve metrics on METRICS_PORT ${options.port}: ${(error as Error).message}`, {
      cause: error,
    });
  }
}
