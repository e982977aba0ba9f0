import { Router } from 'express';
import { z } from 'zod';
import type { Request } from 'express';
import type { RedisClient } from '@fleet/queue';
import { ConflictError, NotFoundError } from '@fleet/errors';
import type { Database, RolloutTransitionResult } from '@fleet/db';
import { countInstances } from '@fleet/db';
import type { Logger } from '@fleet/logger';
import {
  cancelRollout,
  changeRolloutPolicy,
  pauseRollout,
  readPolicy,
  resumeRollout,
  startRolloutNow,
} from '@fleet/rollout-control';
import { loadVisibleRollout, requireRole } from '../http/auth.ts';
import { eventSourceOf } from '../http/event-source.ts';
import { unsupportedMediaType } from '../http/json-guard.ts';
import { parseOrThrow } from '../http/validate.ts';
import { applyPolicyPatch, patchRolloutSchema } from '../rollout-policy-schemas.ts';
import type { ApiOperation } from '../openapi.ts';
import { rolloutSchema } from '../response-schemas.ts';
import { readRolloutLimits } from '../rollout-limits.ts';
import { rolloutIdSchema } from '../rollout-schemas.ts';
import { rolloutView } from '../rollout-views.ts';

export type RolloutControlRoutesDeps = {
  db: Database;
  redis: RedisClient;
  queuePrefix: string;
  logger: Logger;
  /** Postgres's time (a DatabaseClock): start-now's window is found from it. Default the system clock. */
  scheduleNow?: () => Date;
};

/**
 * Operator actions on a live rollout. Each is idempotent (pausing a paused rollout answers 200 with it as it is),
 * answers with the rollout's new state, and is refused with 409 from a state that does not allow it.
 */
export function rolloutControlRoutes(deps: RolloutControlRoutesDeps): Router {
  const router = Router();
  /** The rollout operations, acting for the request's API key. */
  const controlFor = (req: Request) => ({
    db: deps.db,
    redis: deps.redis,
    prefix: deps.queuePrefix,
    logger: deps.logger,
    by: eventSourceOf(req),
  });

  async function answer(result: RolloutTransitionResult, id: string) {
    if (result.kind === 'missing') throw new NotFoundError(`rollout ${id}`);
    if (result.kind === 'refused') throw new ConflictError('rollout_state_conflict', result.reason);
    const [counts, limitsInForce] = await Promise.all([
      countInstances(deps.db, id),
      readRolloutLimits(deps, result.rollout.userId),
    ]);
    return { ...rolloutView(result.rollout, counts, { limitsInForce }), changed: result.kind === 'changed' };
  }

  /** The optional `{ "reason": "..." }` body of pause/resume/cancel/start-now: kept as statusReason and in the event. */
  function optionalReason(req: Request): string | null {
    if (req.body === undefined) return null;
    return parseOrThrow(reasonBodySchema, req.body, 'body', { in: 'body' }).reason ?? null;
  }

  router.post('/v1/rollouts/:id/pause', async (req, res) => {
    requireRole(req, 'operator');
    const rollout = await loadVisibleRollout(deps, req, req.params.id);
    const reason = optionalReason(req) ?? 'paused by an operator';
    res.json(await answer(await pauseRollout(controlFor(req), rollout.id, reason), rollout.id));
  });

  router.post('/v1/rollouts/:id/resume', async (req, res) => {
    requireRole(req, 'operator');
    const rollout = await loadVisibleRollout(deps, req, req.params.id);
    const reason = optionalReason(req);
    res.json(await answer(await resumeRollout(controlFor(req), rollout.id, reason), rollout.id));
  });

  // Operators cancel: on-call must be able to stop a bad rollout, not only pause it. Cancelling touches one
  // rollout of the key's own accounts, like pause; admin is kept for what reaches beyond that (API keys).
  router.post('/v1/rollouts/:id/cancel', async (req, res) => {
    requireRole(req, 'operator');
    const rollout = await loadVisibleRollout(deps, req, req.params.id);
    const reason = optionalReason(req) ?? 'cancelled by an operator';
    res.json(await answer(await cancelRollout(controlFor(req), rollout.id, reason), rollout.id));
  });

  // Overrides the schedule once: a scheduled or waiting rollout runs now (until the end of the window that would have
  // come next), then its windows apply again.
  router.post('/v1/rollouts/:id/start-now', async (req, res) => {
    requireRole(req, 'operator');
    const rollout = await loadVisibleRollout(deps, req, req.params.id);
    const reason = optionalReason(req);
    const now = deps.scheduleNow?.() ?? new Date();
    res.json(await answer(await startRolloutNow(controlFor(req), rollout, now, reason), rollout.id));
  });

  router.patch('/v1/rollouts/:id', async (req, res) => {
    requireRole(req, 'operator');
    if (!req.is('application/json')) throw unsupportedMediaType(req);
    const rollout = await loadVisibleRollout(deps, req, req.params.id);
    const patch = parseOrThrow(patchRolloutSchema, req.body, 'policy change', { in: 'body' });
    const policy = applyPolicyPatch(readPolicy(rollout.policy), patch);
    const updated = await changeRolloutPolicy(controlFor(req), rollout, policy);
    if (!updated)
      throw new ConflictError('rollout_state_conflict', `a ${rollout.status} rollout's policy cannot be changed`);
    const [counts, limitsInForce] = await Promise.all([
      countInstances(deps.db, rollout.id),
      readRolloutLimits(deps, rollout.userId),
    ]);
    res.json(rolloutView(updated, counts, { limitsInForce }));
  });

  return router;
}

const reasonBodySchema = z.strictObject({ reason: z.string().min(1).max(500).optional() });
const rolloutParams = z.strictObject({ id: rolloutIdSchema });
const transitionResponses = (what: string) => ({
  200: {
    description: `The rollout after the ${what} (\`changed: false\` when it already was so)`,
    schema: rolloutSchema.extend({ changed: z.boolean() }),
  },
  409: { description: `The rollout's status does not allow a ${what}` },
});

export const rolloutControlOperations: ApiOperation[] = [
  {
    method: 'post',
    path: '/v1/rollouts/:id/pause',
    operationId: 'pauseRollout',
    tag: 'rollout control',
    role: 'operator',
    summary: 'Pause a running rollout: no new NodeInstall call starts; calls in flight finish',
    params: rolloutParams,
    body: reasonBodySchema,
    responses: transitionResponses('pause'),
  },
  {
    method: 'post',
    path: '/v1/rollouts/:id/resume',
    operationId: 'resumeRollout',
    tag: 'rollout control',
    role: 'operator',
    summary: 'Resume a paused rollout where it stopped; after a pause at a wave gate, this promotes the next wave',
    params: rolloutParams,
    body: reasonBodySchema,
    responses: transitionResponses('resume'),
  },
  {
    method: 'post',
    path: '/v1/rollouts/:id/cancel',
    operationId: 'cancelRollout',
    tag: 'rollout control',
    role: 'operator',
    summary: 'Cancel a rollout: instances not started become cancelled; calls in flight finish and are recorded',
    params: rolloutParams,
    body: reasonBodySchema,
    responses: transitionResponses('cancel'),
  },
  {
    method: 'post',
    path: '/v1/rollouts/:id/start-now',
    operationId: 'startRolloutNow',
    tag: 'rollout control',
    role: 'operator',
    summary: 'Start a scheduled or waiting_for_window rollout now, over its schedule once',
    description:
      'Calls may start until the end (less the cutoff) of the window that would have come next, then its windows apply again; ' +
      'without windows, with no bound. Writes rollout.started with cause start_now.',
    params: rolloutParams,
    body: reasonBodySchema,
    responses: transitionResponses('start'),
  },
  {
    method: 'patch',
    path: '/v1/rollouts/:id',
    operationId: 'updateRolloutPolicy',
    tag: 'rollout control',
    role: 'operator',
    summary: "Change an open rollout's policy: concurrency, retry, wave threshold, abort, instance timeout, schedule",
    description: 'A new schedule is applied by the scheduler (the reconciler) at its next pass; null removes it.',
    params: rolloutParams,
    body: patchRolloutSchema,
    responses: {
      200: { description: 'The rollout with its new policy', schema: rolloutSchema },
      409: { description: 'The rollout is completed or cancelled' },
    },
  },
];
