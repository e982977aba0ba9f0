import { Router } from 'express';
import type { Request } from 'express';
import type { Redis } from 'ioredis';
import { ApiError, NotFoundError, ValidationError } from '@fleet/errors';
import type { Database } from '@fleet/db';
import { countInstances, findInstanceWithAttempts, findRollout, insertRollout, listInstances, markRolloutEnqueued } from '@fleet/db';
import type { Logger } from '@fleet/logger';
import { enqueueInstallJobs, isRedisReachable, openInstallQueue } from '@fleet/queue';
import type { InstanceState } from '@fleet/rollout-domain';
import { INSTANCE_STATES } from '@fleet/rollout-domain';
import { DependencyUnavailableError } from '@fleet/errors';
import { parseOrThrow } from '../http/validate.ts';
import { createRolloutSchema, instanceIdSchema, listInstancesQuerySchema, rolloutIdSchema } from '../rollout-schemas.ts';
import { attemptView, decodeCursor, encodeCursor, instanceView, rolloutView } from '../rollout-views.ts';

export type RolloutRoutesDeps = {
  db: Database;
  /** Fail-fast producer connection (no offline queue). */
  redis: Redis;
  queuePrefix: string;
  maxInstancesPerRollout: number;
  logger: Logger;
};

function requireJson(req: Request): void {
  if (!req.is('application/json')) {
    throw new ApiError(415, 'unsupported_media_type', 'Unsupported media type', 'The request body must be application/json', [
      { path: '', message: `content-type ${req.get('content-type') ?? '(none)'} is not application/json` },
    ]);
  }
}

export function rolloutRoutes(deps: RolloutRoutesDeps): Router {
  const router = Router();
  const createSchema = createRolloutSchema(deps.maxInstancesPerRollout);

  router.post('/v1/rollouts', async (req, res) => {
    requireJson(req);
    const body = parseOrThrow(createSchema, req.body, 'rollout');
    const instanceIds = [...new Set(body.instanceIds)];
    // Check Redis before writing anything: while it is down, answer 503 at once rather than record a rollout
    // that no worker can hear about.
    if (!(await isRedisReachable(deps.redis))) throw new DependencyUnavailableError('redis');
    const { rollout, instances } = await insertRollout(deps.db, {
      userId: body.userId,
      force: body.force,
      concurrency: body.concurrency,
      maxAttempts: body.retry.maxAttempts,
      policy: { concurrency: body.concurrency, retry: body.retry },
      instanceIds,
    });
    const log = deps.logger.child({ rolloutId: rollout.id });
    const queue = openInstallQueue(deps.redis, rollout.id, deps.queuePrefix, log);
    let enqueued = false;
    try {
      await enqueueInstallJobs(queue, { rolloutId: rollout.id, concurrency: rollout.concurrency, instances });
      await markRolloutEnqueued(deps.db, rollout.id);
      enqueued = true;
    } catch (error) {
      // The rollout is recorded; the reconciler enqueues rollouts whose enqueue did not finish.
      log.warn('rollout recorded but not fully enqueued; the reconciler will finish it', { error });
    } finally {
      await queue.close().catch(() => undefined);
    }
    log.info('rollout created', { userId: rollout.userId, instances: instances.length, duplicatesRemoved: body.instanceIds.length - instanceIds.length });
    const counts = { total: instances.length, ...Object.fromEntries(INSTANCE_STATES.map((s) => [s, 0])), pending: instances.length } as Parameters<typeof rolloutView>[1];
    res
      .status(202)
      .location(`/v1/rollouts/${rollout.id}`)
      .json({ ...rolloutView({ ...rollout, enqueuedAt: enqueued ? new Date() : null }, counts), duplicatesRemoved: body.instanceIds.length - instanceIds.length });
  });

  router.get('/v1/rollouts/:id', async (req, res) => {
    const id = parseOrThrow(rolloutIdSchema, req.params.id, 'rollout id');
    const rollout = await findRollout(deps.db, id);
    if (!rollout) throw new NotFoundError(`rollout ${id}`);
    res.json(rolloutView(rollout, await countInstances(deps.db, id)));
  });

  router.get('/v1/rollouts/:id/instances', async (req, res) => {
    const id = parseOrThrow(rolloutIdSchema, req.params.id, 'rollout id');
    const query = parseOrThrow(listInstancesQuerySchema, req.query, 'query');
    const after = query.cursor === undefined ? undefined : decodeCursor(query.cursor);
    if (after === null) throw new ValidationError('query is invalid: cursor: not a cursor of this API', [{ path: 'cursor', message: 'not a cursor returned by this API' }]);
    const rollout = await findRollout(deps.db, id);
    if (!rollout) throw new NotFoundError(`rollout ${id}`);
    const page = await listInstances(deps.db, id, {
      limit: query.limit,
      ...(query.state ? { state: query.state as InstanceState } : {}),
      ...(after !== undefined ? { after } : {}),
    });
    res.json({ items: page.instances.map(instanceView), nextCursor: page.nextCursor === null ? null : encodeCursor(page.nextCursor) });
  });

  router.get('/v1/rollouts/:id/instances/:instanceId', async (req, res) => {
    const id = parseOrThrow(rolloutIdSchema, req.params.id, 'rollout id');
    const instanceId = parseOrThrow(instanceIdSchema, req.params.instanceId, 'instance id');
    const instance = await findInstanceWithAttempts(deps.db, id, instanceId);
    if (!instance) throw new NotFoundError(`instance ${instanceId} in rollout ${id}`);
    res.json({ rolloutId: id, ...instanceView(instance), attempts: instance.attempts.map(attemptView) });
  });

  return router;
}
