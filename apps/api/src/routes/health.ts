import { Router } from 'express';
import type { Redis } from 'ioredis';
import type { Database } from '@fleet/db';
import { isDatabaseReachable } from '@fleet/db';
import { isRedisReachable } from '@fleet/queue';

/** /healthz: the process is up. /readyz: it can serve, i.e. Postgres and Redis both answer; says which does not. */
export function healthRoutes(deps: { db: Database; redis: Redis }): Router {
  const router = Router();
  router.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  router.get('/readyz', async (_req, res) => {
    const [postgres, redis] = await Promise.all([isDatabaseReachable(deps.db), isRedisReachable(deps.redis)]);
    const ready = postgres && redis;
    res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'unavailable', dependencies: { postgres: postgres ? 'up' : 'down', redis: redis ? 'up' : 'down' } });
  });
  return router;
}
