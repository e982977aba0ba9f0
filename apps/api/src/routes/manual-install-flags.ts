import { Router } from 'express';
import type { Request } from 'express';
import { z } from 'zod';
import { ConflictError, NotFoundError, ValidationError } from '@fleet/errors';
import type { Database, ManualInstallFlagDetail, ManualInstallFlagRecord } from '@fleet/db';
import { findManualInstallFlag, listManualInstallFlags, transitionManualInstallFlag } from '@fleet/db';
import type { Logger } from '@fleet/logger';
import { MANUAL_FLAG_STATUSES } from '@fleet/rollout-domain';
import type { ManualFlagStatus } from '@fleet/rollout-domain';
import {
  assertAccountVisible,
  canSeeAccount,
  loadVisibleRollout,
  requireAuth,
  requireRole,
  visibleUserIds,
} from '../http/auth.ts';
import { eventSourceOf } from '../http/event-source.ts';
import { parseOrThrow, parsePathParam } from '../http/validate.ts';
import type { ApiOperation } from '../openapi.ts';
import { recommendedActionFor } from '../failure-report.ts';
import { decodeCursor, encodeCursor } from '../rollout-views.ts';
import { rolloutIdSchema, userIdSchema } from '../rollout-schemas.ts';

export type ManualInstallFlagRoutesDeps = { db: Database; logger: Logger };

const FLAGS_PATH = '/v1/manual-install-flags';
const FLAG_PATH = '/v1/manual-install-flags/:id';

const listFlagsQuerySchema = z.strictObject({
  /** One account (must be one the API key may see); default every account the key may see. */
  userId: userIdSchema.optional(),
  status: z.enum(MANUAL_FLAG_STATUSES as [ManualFlagStatus, ...ManualFlagStatus[]]).optional(),
  /**
   * Flags raised in this rollout: a flag is per host and carried across the rollouts that failed on it (a rollout and
   * its retries), so it is found by any of them (its `rolloutIds`), not only by its latest (`rolloutId`).
   */
  rolloutId: rolloutIdSchema
    .optional()
    .describe('flags raised in this rollout, including flags carried on from or to its retries (see rolloutIds)'),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  cursor: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,40}$/, 'must be a cursor returned by a previous page')
    .optional(),
});

const flagIdSchema = z.string().regex(/^[1-9][0-9]{0,18}$/, 'must be a manual-install flag id');

const noteSchema = z.string().trim().min(1).max(2000);
const flagActionBodySchema = z.strictObject({ note: noteSchema.optional() });
const resolveFlagBodySchema = z.strictObject({
  note: noteSchema.describe('what was done on the host, for the history'),
});

function flagView(flag: ManualInstallFlagRecord) {
  return {
    id: flag.id.toString(),
    /** The latest rollout that failed on the host. */
    rolloutId: flag.rolloutId,
    /** Every rollout that failed on the host while this flag was current, oldest first. */
    rolloutIds: flag.rolloutIds,
    userId: flag.userId,
    instanceId: flag.instanceId,
    reason: flag.reason,
    recommendedAction: recommendedActionFor(flag.reason, null),
    detail: flag.detail,
    lastRequestId: flag.lastRequestId,
    status: flag.status,
    note: flag.note,
    createdAt: flag.createdAt.toISOString(),
    updatedAt: flag.updatedAt.toISOString(),
    acknowledgedAt: flag.acknowledgedAt?.toISOString() ?? null,
    acknowledgedBy: flag.acknowledgedBy,
    resolvedAt: flag.resolvedAt?.toISOString() ?? null,
    resolvedBy: flag.resolvedBy,
  };
}

function flagDetailView(flag: ManualInstallFlagDetail) {
  return {
    ...flagView(flag),
    instance: flag.instance
      ? {
          state: flag.instance.state,
          attemptCount: flag.instance.attemptCount,
          verification: flag.instance.verification,
          agentStatus: flag.instance.agentStatus,
          verifyDeadlineAt: flag.instance.verifyDeadlineAt?.toISOString() ?? null,
          verifiedAt: flag.instance.verifiedAt?.toISOString() ?? null,
        }
      : null,
    history: flag.events.map((e) => ({
      at: e.at.toISOString(),
      action: e.action,
      actor: e.actor,
      note: e.note,
      detail: e.detail ?? null,
    })),
  };
}

/** The flag `id` names, or 404 when there is none or it belongs to an account outside the caller's key. */
async function loadVisibleFlag(deps: ManualInstallFlagRoutesDeps, req: Request): Promise<ManualInstallFlagDetail> {
  const id = parsePathParam(flagIdSchema, req, 'id', 'manual-install flag id');
  const flag = await findManualInstallFlag(deps.db, BigInt(id));
  if (!flag || !canSeeAccount(requireAuth(req), flag.userId)) throw new NotFoundError(`manual-install flag ${id}`);
  return flag;
}

/** Who did it, for the flag's history: the API key's name and its shown prefix. */
function actorOf(req: Request): string {
  const principal = requireAuth(req);
  return `${principal.keyName} (${principal.keyPrefix})`;
}

/**
 * Manual-install flags across rollouts: list them for the accounts the key may see, read one with its history,
 * and move it (acknowledge, resolve: the reconciler re-verifies with NodeStatus, close: won't fix). Moves follow
 * the flag state machine (@fleet/rollout-domain manual-install-flag.ts); a move it refuses answers 409; repeating
 * the move that led to the current status answers 200 without a new history entry. A flag is a host's (account and
 * instance), carried across the rollouts that fail on it: moving it moves it for the host, whichever rollout it is
 * found by, and a retry leaves out hosts whose flag is resolved or closed.
 */
export function manualInstallFlagRoutes(deps: ManualInstallFlagRoutesDeps): Router {
  const router = Router();

  router.get(FLAGS_PATH, async (req, res) => {
    const query = parseOrThrow(listFlagsQuerySchema, req.query, 'query', { in: 'query' });
    const after = query.cursor === undefined ? undefined : decodeCursor(query.cursor);
    if (after === null)
      throw new ValidationError('query is invalid: cursor: not a cursor of this API', [
        { path: 'cursor', message: 'not a cursor returned by this API' },
      ]);
    if (query.userId !== undefined) assertAccountVisible(req, query.userId);
    if (query.rolloutId !== undefined) await loadVisibleRollout(deps, req, query.rolloutId);
    const page = await listManualInstallFlags(deps.db, {
      userIds: visibleUserIds(req),
      limit: query.limit,
      ...(query.userId !== undefined ? { userId: query.userId } : {}),
      ...(query.status !== undefined ? { status: query.status } : {}),
      ...(query.rolloutId !== undefined ? { rolloutId: query.rolloutId } : {}),
      ...(after !== undefined ? { after } : {}),
    });
    res.json({
      items: page.flags.map(flagView),
      nextCursor: page.nextCursor === null ? null : encodeCursor(page.nextCursor),
    });
  });

  router.get(FLAG_PATH, async (req, res) => {
    res.json(flagDetailView(await loadVisibleFlag(deps, req)));
  });

  const actions = [
    { path: `${FLAG_PATH}/acknowledge`, event: { type: 'acknowledge' } as const, body: flagActionBodySchema },
    { path: `${FLAG_PATH}/resolve`, event: { type: 'resolve' } as const, body: resolveFlagBodySchema },
    { path: `${FLAG_PATH}/close`, event: { type: 'close' } as const, body: flagActionBodySchema },
  ];
  for (const action of actions) {
    router.post(action.path, async (req, res) => {
      requireRole(req, 'operator');
      // The path parameter is judged first, as on the rollout routes: a bad id is a 400 whatever the body says.
      const flag = await loadVisibleFlag(deps, req);
      const body = parseOrThrow(action.body, req.body ?? {}, 'body', { in: 'body' });
      const result = await transitionManualInstallFlag(deps.db, {
        flagId: flag.id,
        event: action.event,
        actor: actorOf(req),
        by: eventSourceOf(req),
        note: body.note ?? null,
      });
      if (result.kind === 'missing') throw new NotFoundError(`manual-install flag ${flag.id}`);
      if (result.kind === 'refused')
        throw new ConflictError('flag_transition_refused', `${result.reason} (it is ${result.flag.status})`);
      if (result.kind === 'changed') {
        deps.logger.info('manual-install flag moved', {
          flagId: flag.id.toString(),
          rolloutId: flag.rolloutId,
          instanceId: flag.instanceId,
          from: result.from,
          to: result.to,
          actor: actorOf(req),
        });
      }
      const updated = await findManualInstallFlag(deps.db, flag.id);
      res.json(flagDetailView(updated!));
    });
  }

  return router;
}

const flagParams = z.strictObject({ id: flagIdSchema });
const transitionResponses = {
  200: { description: 'The flag with its history (also when it already was in the status asked for)' },
  409: { description: "The flag state machine does not allow this move from the flag's status" },
};

export const manualInstallFlagOperations: ApiOperation[] = [
  {
    method: 'get',
    path: FLAGS_PATH,
    operationId: 'listManualInstallFlags',
    tag: 'manual-install-flags',
    role: 'viewer',
    summary: 'Instances that need a manual install, across rollouts, for the accounts the key may see',
    description:
      'One flag per host (account and instance id) until it is closed: when a retry (or any later rollout) fails on a host ' +
      'again, its open or acknowledged flag is kept, with a `reflagged` history entry naming the rollout, and a resolved ' +
      'one is reopened; after a close a new flag is raised. `rolloutId` is the latest rollout, `rolloutIds` all of them; ' +
      'the `rolloutId` filter matches any of them.',
    query: listFlagsQuerySchema,
    responses: { 200: { description: 'A page of flags; pass `nextCursor` as `cursor` for the next one' } },
  },
  {
    method: 'get',
    path: FLAG_PATH,
    operationId: 'getManualInstallFlag',
    tag: 'manual-install-flags',
    role: 'viewer',
    summary: 'One manual-install flag with the instance verification state and the flag history',
    params: flagParams,
    responses: { 200: { description: 'The flag' } },
  },
  {
    method: 'post',
    path: `${FLAG_PATH}/acknowledge`,
    operationId: 'acknowledgeManualInstallFlag',
    tag: 'manual-install-flags',
    role: 'operator',
    summary: 'Acknowledge an open flag: someone owns it',
    params: flagParams,
    body: flagActionBodySchema,
    responses: transitionResponses,
  },
  {
    method: 'post',
    path: `${FLAG_PATH}/resolve`,
    operationId: 'resolveManualInstallFlag',
    tag: 'manual-install-flags',
    role: 'operator',
    summary:
      'Resolve a flag: the agent was installed by hand. The reconciler re-verifies it with NodeStatus; not running reopens the flag',
    params: flagParams,
    body: resolveFlagBodySchema,
    responses: transitionResponses,
  },
  {
    method: 'post',
    path: `${FLAG_PATH}/close`,
    operationId: 'closeManualInstallFlag',
    tag: 'manual-install-flags',
    role: 'operator',
    summary: "Close a flag without installing (won't fix: decommissioned, out of scope)",
    params: flagParams,
    body: flagActionBodySchema,
    responses: transitionResponses,
  },
];
