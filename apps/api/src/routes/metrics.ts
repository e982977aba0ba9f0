import { Router } from 'express';
import { z } from 'zod';
import { ApiError } from '@fleet/errors';
import type { Logger } from '@fleet/logger';
import type { MetricsRegistry } from '@fleet/metrics';
import { createMetricsHandler, hasBearerToken } from '@fleet/metrics';
import type { ApiOperation } from '../openapi.ts';
import { problemSchema } from '../response-schemas.ts';

export type MetricsRouteDeps = {
  registry: MetricsRegistry;
  /** METRICS_TOKEN: when set, a scrape needs `Authorization: Bearer <token>`. */
  token?: string | undefined;
  logger: Logger;
};

/** `GET /metrics`: this API process's metrics in the Prometheus text format, outside `/v1` and its API keys. */
export function metricsRoutes(deps: MetricsRouteDeps): Router {
  const router = Router();
  const scrape = createMetricsHandler({
    registry: deps.registry,
    onError: (error) => deps.logger.warn('a metrics scrape failed', { error: (error as Error).message }),
  });
  router.get('/metrics', async (req, res) => {
    if (deps.token && !hasBearerToken(req.headers.authorization, deps.token)) {
      res.setHeader('WWW-Authenticate', 'Bearer realm="metrics"');
      throw new ApiError(
        401,
        'unauthenticated',
        'Unauthorized',
        'Scraping needs Authorization: Bearer <METRICS_TOKEN>',
      );
    }
    await scrape(req, res);
  });
  return router;
}

export const metricsOperations: ApiOperation[] = [
  {
    method: 'get',
    path: '/metrics',
    operationId: 'getMetrics',
    tag: 'health',
    role: 'public',
    summary: 'Prometheus metrics of this API process; needs `Authorization: Bearer <METRICS_TOKEN>` when one is set',
    responses: {
      200: { description: 'Prometheus text format 0.0.4', schema: z.string(), contentType: 'text/plain' },
      401: {
        description: 'METRICS_TOKEN is set and the request does not carry it',
        schema: problemSchema,
        contentType: 'application/problem+json',
      },
    },
  },
];
