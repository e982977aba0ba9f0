import express from 'express';
import type { ErrorRequestHandler } from 'express';
import type { Redis } from 'ioredis';
import { DependencyUnavailableError } from '@fleet/errors';
import type { Database } from '@fleet/db';
import { isDatabaseUnavailableError } from '@fleet/db';
import type { Logger } from '@fleet/logger';
import { notFoundHandler, problemErrorHandler } from './http/problem.ts';
import { requestId } from './http/request-id.ts';
import { healthRoutes } from './routes/health.ts';
import { rolloutRoutes } from './routes/rollouts.ts';

export type ApiDeps = {
  db: Database;
  /** Fail-fast producer connection (role `producer`). */
  redis: Redis;
  logger: Logger;
  queuePrefix: string;
  maxInstancesPerRollout: number;
  bodyLimitBytes: number;
};

/** Builds the HTTP API. It does not listen: main.ts and tests do. */
export function createApp(deps: ApiDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('query parser', 'simple');
  app.use(requestId);
  app.use((_req, res, next) => {
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('Cache-Control', 'no-store');
    next();
  });
  app.use(express.json({ limit: deps.bodyLimitBytes, strict: true }));
  app.use(healthRoutes(deps));
  app.use(rolloutRoutes(deps));
  app.use(notFoundHandler);
  // Postgres unreachable mid-request: a 503 the client may retry, not a 500.
  const databaseUnavailable: ErrorRequestHandler = (error, _req, _res, next) => {
    next(isDatabaseUnavailableError(error) ? new DependencyUnavailableError('postgres', { cause: error }) : error);
  };
  app.use(databaseUnavailable);
  app.use(problemErrorHandler(deps.logger));
  return app;
}
