import { Router } from 'express';
import type { RedisClient } from '@fleet/queue';
import { z } from 'zod';
import { ConflictError, DependencyUnavailableError, ValidationError } from '@fleet/errors';
import type { Database, Prisma } from '@fleet/db';
import { iterateReportInstances, listRetryRollouts, recordRollout } from '@fleet/db';
import type { Logger } from '@fleet/logger';
import { isRedisReachable } from '@fleet/queue';
import { INSTANCE_STATES } from '@fleet/rollout-domain';
import type { BackgroundEnqueues } from '../background-enqueues.ts';
import { enqueueNewRollout } from '../enqueue-rollout.ts';
import { loadVisibleRollout, requireRole } from '../http/auth.ts';
import { eventSourceOf } from '../http/event-source.ts';
import { parseOrThrow, showValue } from '../http/validate.ts';
import type { ApiOperation } from '../openapi.ts';
import { readRolloutLimits } from '../rollout-limits.ts';
import { retriedRolloutSchema } from '../response-schemas.ts';
import { instanceIdSchema, rolloutIdSchema } from '../rollout-schemas.ts';
import { rolloutView } from '../rollout-views.ts';
import type { EnqueueThread } from '../enqueue-thread/enqueue-thread.ts';

export type RolloutRetryRoutesDeps = {
  db: Database;
  redis: RedisClient;
  queuePrefix: string;
  logger: Logger;
  /** Runs the new rollout's enqueue, answering once it is done or its wait is over (see background-enqueues.ts). */
  enqueues: BackgroundEnqueues;
  /** Where the jobs are built (main.ts's enqueue thread); default on the event loop. */
  enqueueThread?: EnqueueThread | undefined;
};

const RETRY_PATH = '/v1/rollouts/:id/retry';

const RETRY_CONCURRENCY_MESSAGE = 'must be an integer from 1 to 10000';

const retryRolloutBodySchema = z.strictObject({
  /** Only the instances of this failure cause (a `cause` of GET /v1/rollouts/:id/report). */
  cause: z.string().min(1).max(2000).optional(),
  /** Only these instances (each must be a failed instance of the rollout, of `cause` if given). */
  instanceIds: z.array(instanceIdSchema).min(1).max(100_000).optional(),
  /** Default: the original rollout's. */
  force: z.boolean().optional(),
  /** Default: the original rollout's. */
  concurrency: z
    .number({ error: RETRY_CONCURRENCY_MESSAGE })
    .int({ error: RETRY_CONCURRENCY_MESSAGE })
    .min(1, { error: RETRY_CONCURRENCY_MESSAGE })
    .max(10_000, { error: RETRY_CONCURRENCY_MESSAGE })
    .optional(),
});

/**
 * Flag statuses meaning an operator dealt with the host by hand: a retry leaves it alone. The status is that of the
 * host's current flag (a report row's `flagStatus`), whichever rollout raised it: flags are per host and carried
 * across a rollout and its retries, so resolving or closing it in any of them ends it for the host.
 */
const HANDLED_FLAG_STATUSES = new Set(['resolved', 'closed']);
/** Instance ids named in a 422 answer. */
const MAX_LISTED = 20;

/**
 * POST /v1/rollouts/:id/retry: a follow-up rollout of the original's failed instances (NodeInstall failed, or the
 * agent never came up), or of one cause's, or of chosen ones; linked to the original by `parentRolloutId`.
 *
 * Decisions: only a finished (completed or cancelled) rollout can be retried, 409 otherwise, so the set of
 * failures is final and a retry never races the original; only one retry at a time (409 while a previous retry is
 * running or paused); instances whose manual-install flag an operator resolved or closed are left out; nothing
 * left to retry answers 409. The follow-up is a single wave with the original's retry policy; its own `force`
 * and `concurrency` default to the original's.
 */
export function rolloutRetryRoutes(deps: RolloutRetryRoutesDeps): Router {
  const router = Router();

  router.post(RETRY_PATH, async (req, res) => {
    requireRole(req, 'operator');
    const body = parseOrThrow(retryRolloutBodySchema, req.body ?? {}, 'body', { in: 'body' });
    const original = await loadVisibleRollout(deps, req, req.params.id);
    if (original.status === 'running' || original.status === 'paused') {
      throw new ConflictError(
        'rollout_not_finished',
        `rollout ${original.id} is ${original.status}: retry it once it is completed or cancelled`,
      );
    }
    const openRetry = (await listRetryRollouts(deps.db, original.id)).find(
      (r) => r.status === 'running' || r.status === 'paused',
    );
    if (openRetry)
      throw new ConflictError(
        'retry_in_progress',
        `rollout ${original.id} is being retried by rollout ${openRetry.id}, which is ${openRetry.status}`,
      );

    const wanted = body.instanceIds ? new Set(body.instanceIds) : null;
    const chosen: string[] = [];
    let causeSeen = false;
    for await (const page of iterateReportInstances(deps.db, original.id, { scope: 'failures' })) {
      for (const row of page) {
        if (body.cause !== undefined && row.cause !== body.cause) continue;
        causeSeen = true;
        if (wanted && !wanted.has(row.instanceId)) continue;
        if (row.flagStatus !== null && HANDLED_FLAG_STATUSES.has(row.flagStatus)) continue;
        chosen.push(row.instanceId);
      }
    }
    if (body.cause !== undefined && !causeSeen) {
      throw new ValidationError('body is invalid: cause: no failed instance of this rollout has this cause', [
        {
          path: 'cause',
          message: `not a cause of this rollout's failures (see GET /v1/rollouts/:id/report); got ${showValue(body.cause)}`,
          in: 'body',
        },
      ]);
    }
    if (wanted) {
      const chosenSet = new Set(chosen);
      const refused = body.instanceIds!.map((id, index) => ({ id, index })).filter(({ id }) => !chosenSet.has(id));
      if (refused.length > 0) {
        const withCause = body.cause !== undefined ? ' with this cause' : '';
        throw new ValidationError(
          `body is invalid: instanceIds[${refused[0]!.index}]: not a failed instance of this rollout${withCause} awaiting a retry; ` +
            `got ${showValue(refused[0]!.id)}`,
          refused.slice(0, MAX_LISTED).map(({ id, index }) => ({
            path: `instanceIds[${index}]`,
            message: `not a failed instance of this rollout awaiting a retry; got ${showValue(id)}`,
            in: 'body' as const,
          })),
        );
      }
    }
    if (chosen.length === 0)
      throw new ConflictError('nothing_to_retry', `rollout ${original.id} has no failed instance left to retry`);

    if (!(await isRedisReachable(deps.redis))) throw new DependencyUnavailableError('redis');
    const instanceIds = [...new Set(chosen)];
    const concurrency = body.concurrency ?? original.concurrency;
    const storedPolicy =
      typeof original.policy === 'object' && original.policy !== null
        ? (original.policy as Record<string, unknown>)
        : {};
    const rollout = await recordRollout(deps.db, {
      userId: original.userId,
      force: body.force ?? original.force,
      concurrency,
      maxAttempts: original.maxAttempts,
      // One wave: the ramp-up protected the fleet the first time; these few instances already had their turn.
      // A forced retry reinstalls: it cannot also leave running agents be (skipInstalled contradicts force).
      policy: {
        ...storedPolicy,
        concurrency,
        waves: null,
        ...(body.force ? { skipInstalled: false } : {}),
      } as Prisma.InputJsonValue,
      instanceIds,
      // Linked in the retry's own transaction, with rollout.retried on the original's timeline.
      parentRolloutId: original.id,
      by: eventSourceOf(req),
    });
    const log = deps.logger.child({ rolloutId: rollout.id });
    // One wave (see the policy above): the whole retry is enqueued, after the 202 if it takes longer than the wait.
    const enqueued = await deps.enqueues.start(() => enqueueNewRollout(deps, rollout, log));
    const total = rollout.totalInstances;
    log.info('retry rollout created', {
      parentRolloutId: original.id,
      cause: body.cause ?? null,
      instances: total,
      enqueued,
    });
    const counts = { total, ...Object.fromEntries(INSTANCE_STATES.map((s) => [s, 0])), pending: total } as Parameters<
      typeof rolloutView
    >[1];
    const limitsInForce = await readRolloutLimits(deps, rollout.userId);
    res
      .status(202)
      .location(`/v1/rollouts/${rollout.id}`)
      .json({
        ...rolloutView({ ...rollout, enqueuedAt: enqueued ? new Date() : null, parentRolloutId: original.id }, counts, {
          limitsInForce,
        }),
        retryOf: { rolloutId: original.id, cause: body.cause ?? null, instances: total },
      });
  });

  return router;
}

export const rolloutRetryOperations: ApiOperation[] = [
  {
    method: 'post',
    path: RETRY_PATH,
    operationId: 'retryRollout',
    tag: 'rollouts',
    role: 'operator',
    summary:
      "Retry the failed instances of a finished rollout (all, one cause's, or chosen ones) as a new rollout linked to it",
    description:
      'Only a completed or cancelled rollout can be retried (409 `rollout_not_finished`), one retry at a time (409 `retry_in_progress`). ' +
      'Instances whose manual-install flag was resolved or closed are left out. Nothing left: 409 `nothing_to_retry`. ' +
      'An unknown `cause`, or an instance id that is not a failed instance awaiting a retry: 400 naming the field.',
    params: z.strictObject({ id: rolloutIdSchema }),
    body: retryRolloutBodySchema,
    responses: {
      202: {
        description: 'The follow-up rollout, with `parentRolloutId` and `retryOf`',
        schema: retriedRolloutSchema,
        headers: { Location: 'the new rollout' },
      },
      409: { description: 'Not finished, already being retried, or nothing to retry' },
    },
  },
];
