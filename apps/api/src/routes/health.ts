import { Router } from 'express';
import type { RedisClient } from '@fleet/queue';
import type { Database } from '@fleet/db';
import { isDatabaseReachable } from '@fleet/db';
import { isRedisReachable } from '@fleet/queue';
import type { ApiOperation } from '../openapi.ts';
import { healthSchema, readinessSchema } from '../response-schemas.ts';

/** /healthz: the process is up. /readyz: it can serve, i.e. Postgres and Redis both answer; says which does not. */
export function healthRoutes(deps: { db: Database; redis: RedisClient }): Router {
  const router = Router();
  router.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  router.get('/readyz', async (_req, res) => {
    const [postgres, redis] = await Promise.all([isDatabaseReachable(deps.db), isRedisReachable(deps.redis)]);
    const ready = postgres && redis;
    res.status(ready ? 200 : 503).json({
      status: ready ? 'ready' : 'unavailable',
      dependencies: { postgres: postgres ? 'up' : 'down', redis: redis ? 'up' : 'down' },
    });
  });
  return router;
}

export const healthOperations: ApiOperation[] = [
  {
    method: 'get',
    path: '/healthz',
    operationId: 'getHealth',
    tag: 'health',
    role: 'public',
    summary: 'The process is up',
    responses: { 200: { description: 'Up', schema: healthSchema } },
  },
  {
    method: 'get',
    path: '/readyz',
    operationId: 'getReadiness',
    tag: 'health',
    role: 'public',
    summary: 'Postgres and Redis both answer; `dependencies` says which does not',
    responses: {
      200: { description: 'Ready', schema: readinessSchema },
      503: { description: 'A dependency is down', schema: readinessSchema },
    },
  },
];
