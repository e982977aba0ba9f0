import { Router } from 'express';
import type { Request } from 'express';
import type { Redis } from 'ioredis';
import { ApiError, ConflictError, NotFoundError } from '@fleet/errors';
import type { Database, RolloutTransitionResult } from '@fleet/db';
import { countInstances } from '@fleet/db';
import type { Logger } from '@fleet/logger';
import { cancelRollout, changeRolloutPolicy, pauseRollout, readPolicy, resumeRollout } from '@fleet/rollout-control';
import { loadVisibleRollout, requireRole } from '../http/auth.ts';
import { unsupportedMediaType } from '../http/json-guard.ts';
import { parseOrThrow } from '../http/validate.ts';
import { applyPolicyPatch, patchRolloutSchema } from '../rollout-policy-schemas.ts';
import { rolloutView } from '../rollout-views.ts';

export type RolloutControlRoutesDeps = { db: Database; redis: Redis; queuePrefix: string; logger: Logger };

/**
 * Operator actions on a live rollout. Each is idempotent (pausing a paused rollout answers 200 with it as it is),
 * answers with the rollout's new state, and is refused with 409 from a state that does not allow it.
 */
export function rolloutControlRoutes(deps: RolloutControlRoutesDeps): Router {
  const router = Router();
  const control = { db: deps.db, redis: deps.redis, prefix: deps.queuePrefix, logger: deps.logger };

  async function answer(result: RolloutTransitionResult, id: string) {
    if (result.kind === 'missing') throw new NotFoundError(`rollout ${id}`);
    if (result.kind === 'refused') throw new ConflictError('rollout_state_conflict', result.reason);
    return { ...rolloutView(result.rollout, await countInstances(deps.db, id)), changed: result.kind === 'changed' };
  }

  function optionalReason(req: Request): string | null {
    if (req.body === undefined || (typeof req.body === 'object' && req.body !== null && Object.keys(req.body).length === 0)) return null;
    const reason = (req.body as { reason?: unknown }).reason;
    const keys = Object.keys(req.body as object);
    if (keys.some((k) => k !== 'reason') || typeof reason !== 'string' || reason.length === 0 || reason.length > 500) {
      throw new ApiError(400, 'validation_failed', 'Request validation failed', 'the body may only hold an optional "reason" string (1..500 characters)', [
        { path: keys.find((k) => k !== 'reason') ?? 'reason', message: 'only "reason" (a string of 1..500 characters) is accepted' },
      ]);
    }
    return reason;
  }

  router.post('/v1/rollouts/:id/pause', async (req, res) => {
    requireRole(req, 'operator');
    const rollout = await loadVisibleRollout(deps, req, req.params.id);
    const reason = optionalReason(req) ?? 'paused by an operator';
    res.json(await answer(await pauseRollout(control, rollout.id, reason), rollout.id));
  });

  router.post('/v1/rollouts/:id/resume', async (req, res) => {
    requireRole(req, 'operator');
    const rollout = await loadVisibleRollout(deps, req, req.params.id);
    optionalReason(req);
    res.json(await answer(await resumeRollout(control, rollout.id), rollout.id));
  });

  router.post('/v1/rollouts/:id/cancel', async (req, res) => {
    requireRole(req, 'admin');
    const rollout = await loadVisibleRollout(deps, req, req.params.id);
    const reason = optionalReason(req) ?? 'cancelled by an operator';
    res.json(await answer(await cancelRollout(control, rollout.id, reason), rollout.id));
  });

  router.patch('/v1/rollouts/:id', async (req, res) => {
    requireRole(req, 'operator');
    if (!req.is('application/json')) throw unsupportedMediaType(req);
    const rollout = await loadVisibleRollout(deps, req, req.params.id);
    const patch = parseOrThrow(patchRolloutSchema, req.body, 'policy change');
    const policy = applyPolicyPatch(readPolicy(rollout.policy), patch);
    const updated = await changeRolloutPolicy(control, rollout, policy);
    if (!updated) throw new ConflictError('rollout_state_conflict', `a ${rollout.status} rollout's policy cannot be changed`);
    res.json(rolloutView(updated, await countInstances(deps.db, rollout.id)));
  });

  return router;
}
